"""Thai text through pythainlp (offline): sentence cuts and the word tokens rules match."""

from __future__ import annotations

import re
from functools import lru_cache

TOKEN_SEPARATOR = "|"


# Privacy terms kept whole so rules see them as one word, and trade words holding ขาย ("sell")
# kept whole so that `\|ขาย\|` never fires inside them (ส่งเสริมการขาย is split as การ|ขาย).
PRIVACY_TERMS = (
    "ข้อมูลส่วนบุคคล", "ข้อมูลส่วนตัว", "ข้อมูลอ่อนไหว", "ข้อมูลชีวภาพ", "ข้อมูลชีวมิติ",
    "ข้อมูลสุขภาพ", "ข้อมูลการศึกษา", "ข้อมูลติดต่อ", "ข้อมูลการติดต่อ", "ข้อมูลตำแหน่ง",
    "เจ้าของข้อมูล", "เจ้าของข้อมูลส่วนบุคคล", "ผู้ควบคุมข้อมูลส่วนบุคคล",
    "ผู้ประมวลผลข้อมูลส่วนบุคคล", "ความยินยอม", "ผู้ปกครอง", "ผู้ใช้อำนาจปกครอง",
    "ผู้แทนโดยชอบธรรม", "ผู้เยาว์", "ผู้ให้บริการ", "บริษัทในเครือ", "บริษัทในกลุ่ม",
    "กลุ่มบริษัท", "บริษัทย่อย", "พันธมิตรทางธุรกิจ", "พันธมิตรทางการค้า", "พันธมิตรทางการตลาด",
    "บุคคลภายนอก", "บุคคลที่สาม", "ผู้โฆษณา", "เครือข่ายโฆษณา", "รหัสโฆษณา", "นายหน้าข้อมูล",
    "ตำแหน่งที่ตั้ง", "รายชื่อผู้ติดต่อ", "ผู้ติดต่อ", "หมายเลขโทรศัพท์", "เบอร์โทรศัพท์", "ที่อยู่อีเมล",
    "วันเดือนปีเกิด", "ลายนิ้วมือ", "การควบรวมกิจการ", "ควบรวมกิจการ", "หน่วยงานราชการ",
    "หน่วยงานของรัฐ", "เจ้าหน้าที่ของรัฐ", "ต่างประเทศ", "เว็บบีคอน", "ถอนความยินยอม",
    "กลุ่มเป้าหมาย", "ความสนใจ", "ระยะเวลา", "เก็บรักษา", "เก็บรวบรวม", "ร้องเรียน",
    "ส่งเสริมการขาย", "การซื้อขาย", "ซื้อขาย", "ยอดขาย", "ผู้ขาย", "ฝ่ายขาย", "พนักงานขาย",
    "ตัวแทนขาย", "ราคาขาย", "ขายปลีก", "ขายส่ง", "การขายสินค้า", "ขายสินค้า", "ขายกิจการ",
    "ถูกลบ", "ถูกทำลาย",
)
# pythainlp words that swallow a verb the rules look for (ประมวลผล|ข้อมูล, ใช้|การ, ร้องเรียน|ต่อ,
# ยินยอม|ให้ rather than ยิน|ยอมให้), a modal (อาจ|จะ, คง|จะ, จะ|แจ้ง) or the relative before an organisation
# (ที่|ทาง|บริษัท rather than ที่ทาง|บริษัท).
HIDING_WORDS = ("ประมวลผลข้อมูล", "ใช้การ", "ใช้กับ", "ใช้บน", "ใช้ได้", "ใช้ไม่ได้", "ไม่เป็นการ",
                "ห้ามไม่ให้", "เรียนต่อ", "ยอมให้", "อาจจะ", "คงจะ", "ที่ทาง", "จะแจ้ง")


@lru_cache(maxsize=1)
def _tokenizer():
    """newmm with pythainlp's word list, less HIDING_WORDS, plus PRIVACY_TERMS; built once (~0.7 s)."""
    from pythainlp.corpus.common import thai_words
    from pythainlp.tokenize import word_tokenize
    from pythainlp.util import dict_trie

    trie = dict_trie((set(thai_words()) - set(HIDING_WORDS)) | set(PRIVACY_TERMS))
    return lambda text: word_tokenize(text, custom_dict=trie, engine="newmm",
                                      keep_whitespace=False)


def tokens(text: str) -> list[str]:
    return [t for t in _tokenizer()(text) if t.strip()]


@lru_cache(maxsize=4096)
def tokenized_form(sentence: str) -> str:
    """The form Thai rule patterns match: tokens joined and framed by '|', e.g. '|เรา|ไม่|ขาย|'.

    A pattern `\\|ขาย\\|` then matches the word ขาย and not the ขาย inside ซื้อขาย.
    """
    return TOKEN_SEPARATOR + TOKEN_SEPARATOR.join(tokens(sentence)) + TOKEN_SEPARATOR


# A segment that opens with one of these continues the sentence before it: a Thai sentence
# runs on past spaces through its conjunctions, exceptions and lists.
CONTINUATION_WORDS = (
    "เว้นแต่", "ยกเว้น", "และ", "หรือ", "แต่", "ซึ่ง", "โดย", "เพื่อ", "ที่", "ตาม", "เช่น",
    "ได้แก่", "รวมถึง", "รวมทั้ง", "ตลอดจน", "อีกทั้ง", "กับ", "แก่", "ให้", "จาก", "ของ",
    "ใน", "ภายใน", "ภายใต้", "จนกว่า", "หาก", "เมื่อ", "อัน", "ไม่ว่า", "ด้วย", "เท่านั้น",
    "ก็ต่อเมื่อ", "ตราบเท่าที่", "นอกเหนือจาก", "เพราะ", "เนื่องจาก", "จึง", "ไม่", "ก็", "เป็น",
    "ได้", "ว่า", "ต่อ", "ถึง", "แล้ว", "อย่าง", "ประกอบด้วย", "(", ")",
)
# Exceptions stay with their negation however long the sentence grows.
EXCEPTION_WORDS = ("เว้นแต่", "ยกเว้น", "แต่", "หรือ", "นอกเหนือจาก")
# A leading condition ("ในกรณีที่มีการควบรวมกิจการ", "หากผู้ปกครองพบว่า...") is cut off by the CRF
# cutter from the main clause it governs; it continues into the next piece.
CONDITION_OPENERS = ("ในกรณี", "กรณี", "หาก", "ถ้า", "เมื่อ", "หลังจาก", "ภายหลังจาก", "ก่อนที่",
                     "ในการ")
MAX_CONDITION = 200
# A list opened by เช่น / ได้แก่ / อาทิ runs on through its noun items ("เช่น การจัดทำรายงาน การบันทึก
# ภาพกิจกรรม การออกหนังสือรับรอง", "เช่น ชื่อ ที่อยู่อีเมล หมายเลขโทรศัพท์ เนื้อหาของข้อความ").
LIST_CUES = ("เช่น", "ได้แก่", "อาทิ", "ประกอบด้วย")
NOUN_ITEM_OPENERS = ("การ", "ข้อมูล", "ความ", "ประวัติ", "หมายเลข", "เลข", "ชื่อ", "ที่อยู่", "เนื้อหา",
                     "ภาพ", "รูป", "วันเดือนปี", "วันเกิด", "อีเมล", "เบอร์")
MIN_THAI_SENTENCE = 12
# A short piece with no subject, modal or negation is an item of a list the CRF cut apart
# ("ความคิดเห็นทางการเมือง", "ประวัติอาชญากรรม"), not a sentence.
MAX_NOUN_ITEM = 30
RAW_STATEMENT = re.compile("อาจ|จะ|ต้อง|ไม่|มิได้|เรา|บริษัท|ท่าน|คุณ|ผู้ใช้|ระบบ")
# A cross-reference goes on into the section it names ("โปรดดูในหัวข้อ “การเปิดเผยข้อมูล”").
SECTION_NAMED = ("หัวข้อ", "ในข้อ", "ตามข้อ")
MAX_MERGED_SENTENCE = 800


def _crf_segments(text: str) -> list[str]:
    try:
        from pythainlp.tokenize import sent_tokenize

        return sent_tokenize(text, engine="crfcut")
    except ImportError:  # python-crfsuite missing: one sentence per line is still correct
        return [text]


# Cached because the CRF cut is the slow part of Thai text, and lines recur: the same policy
# re-scanned, or the boilerplate many Thai policies share.
@lru_cache(maxsize=2048)
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each Thai sentence in one line of text, via pythainlp's CRF cutter.

    Cuts before a conjunction or exception (เว้นแต่, หรือ, ...), inside a list of short words, or
    after an abbreviation like พ.ศ. are undone, so a negation keeps its exception.
    """
    pieces: list[list[int]] = []  # [start, end, number of CRF segments merged]
    position = 0
    for segment in _crf_segments(text):
        found = text.find(segment, position)
        if found < 0 or not segment.strip():
            continue
        position = found + len(segment)
        body = segment.strip()
        start = found + len(segment) - len(segment.lstrip())
        end = start + len(body)
        if pieces and (_continues(text[pieces[-1][0]:pieces[-1][1]], body)
                       or _is_leading_condition(text[pieces[-1][0]:pieces[-1][1]], pieces[-1][2])):
            pieces[-1][1] = end
            pieces[-1][2] += 1
        else:
            pieces.append([start, end, 1])
    return tuple((s, e) for s, e, _ in pieces)


def _is_leading_condition(previous: str, segments: int) -> bool:
    """A lone condition clause, not yet joined to the main clause that follows it."""
    return segments == 1 and previous.startswith(CONDITION_OPENERS) and len(previous) <= MAX_CONDITION


def _continues(previous: str, segment: str) -> bool:
    """Whether a CRF cut between previous and segment falls inside one sentence."""
    if segment.startswith(EXCEPTION_WORDS):
        return True
    if previous.count("(") > previous.count(")"):
        return True  # a sentence does not end inside brackets
    if len(previous) + len(segment) > MAX_MERGED_SENTENCE:
        return False
    if segment.startswith(CONTINUATION_WORDS) or segment[:1].isdigit():
        return True
    if segment.startswith(NOUN_ITEM_OPENERS) and any(cue in previous[-150:] for cue in LIST_CUES):
        return True
    if len(previous) < MIN_THAI_SENTENCE or previous.endswith(SECTION_NAMED):
        return True
    if not RAW_STATEMENT.search(segment) and (
            len(segment) <= MAX_NOUN_ITEM or GLOSSED_TERM.match(previous)):
        return True  # a bare noun item of a list, or the rest of a glossary definition
    last_word = previous.rsplit(" ", 1)[-1]
    if previous.endswith(".") and len(last_word) <= 5:
        return True  # an abbreviation such as พ.ศ. or ม.
    if previous.endswith("ฯ") and not previous.endswith("ฯลฯ"):
        return True  # an abbreviated name: บริษัทฯ, โครงการฯ, ทางคณะ ฯ
    # "เก็บรวบรวม ใช้ และเปิดเผย": a short word then a space is a list, not a sentence
    first_word = segment.split(" ", 1)[0]
    return len(first_word) <= 4 and " " in segment


# --- statements that are not a practice (the engine makes a risk found in them neutral) ---------
# Matched on the token form, as the Thai rules are. A word that states something: a modal, an
# auxiliary, a copula, a negation, a passive (not "ที่ถูก..."), a manner, a purpose or a list. A title has
# none ("การเปิดเผยข้อมูลแก่บุคคลภายนอก", "ข้อมูลส่วนบุคคลที่เราเก็บรวบรวม"). The reader's data followed
# by what is done with it states it too ("ข้อมูลของท่านจัดเก็บบนระบบคลาวด์ของ ..."), as does how a
# thing is done ("การชำระเงินดำเนินการผ่าน ...").
STATING = re.compile(r"\|(อาจ|จะ|ต้อง|ได้|สามารถ|ควร|ย่อม|เป็น|เป็นไป|คือ|ไม่|มิ|โดย|เพื่อ|ได้แก่|เช่น|อาทิ"
                     r"|ประกอบด้วย|รวมถึง|ดังนี้|ดังต่อไปนี้|ถูก(?<!\|ที่\|ถูก)|เหล่านี้|มีสิทธิ์?|ช่วย|ทำให้)\|"
                     r"|\|ของ\|(ท่าน|คุณ|ผู้ใช้)\|(จัดเก็บ|เก็บ|เก็บรักษา|บันทึก|ส่ง|ส่งต่อ|โอน|เปิดเผย|ประมวลผล)\|"
                     r"|\|(ดำเนินการ|จัดการ)\|(ผ่าน|โดย)\|")
# An item mark, then a section number ("3.", "2.1", "ข้อ 5", "หมวด 3", "(ก)").
SECTION_NUMBER = (r"(\(\|?[ก-ฮ0-9๐-๙]{1,2}\|?\)\||[-•*]\|)?"
                  r"([0-9๐-๙]+(\.[0-9๐-๙]+)*\|(\.\|)?|(ข้อ|หมวด|ส่วน)(ที่)?\|[0-9๐-๙]+(\.[0-9๐-๙]+)*\|(\.\|)?)")
# A title names a topic: a nominal (การ..., ความ...) or a noun of the notice's topics.
TITLE_OPENER = re.compile(
    rf"^\|([“\"]\|)?{SECTION_NUMBER}?"
    r"(การ|ความ|ข้อมูล|ประเภท|วัตถุประสงค์|นโยบาย|ระยะเวลา|สิทธิ|ผู้รับ|แหล่ง|ฐาน|คุกกี้|วิธี|ช่องทาง"
    r"|หลักเกณฑ์|มาตรการ|บุคคล|หน่วยงาน|ผู้ให้บริการ|ผู้ควบคุม|ผู้ประมวลผล|เจ้าหน้าที่|เทคโนโลยี|ผู้เยาว์|เด็ก)")
NUMBERED_TITLE = re.compile(rf"^\|{SECTION_NUMBER}")
# A party opening the line, then (within three words, none of them a relative, a nominal or a
# linking word) what it does with the data: "ผู้ให้บริการภายนอกเข้าถึงข้อมูลของท่าน", "หน่วยงานของรัฐขอ
# ข้อมูล...", "คุกกี้บันทึกการตั้งค่า...": a statement with no modal, not a title ("บุคคลภายนอกที่ได้รับ
# ข้อมูล", "ผู้ให้บริการด้านเทคโนโลยี").
AGENT_STATEMENT = re.compile(
    rf"^\|{SECTION_NUMBER}?(บุคคล[^|]*|ผู้ให้บริการ[^|]*|หน่วยงาน[^|]*|ผู้ประมวลผล[^|]*|ผู้ควบคุม[^|]*|คุกกี้"
    r"|เจ้าหน้าที่[^|]*|พันธมิตร[^|]*|บริษัทในเครือ|บริษัทในกลุ่ม)\|"
    r"((?!(ที่|ซึ่ง|การ|ความ|ด้าน|สำหรับ|และ|หรือ|เพื่อ)\|)[^|]+\|){0,3}"
    r"(เก็บ|เก็บรวบรวม|รวบรวม|จัดเก็บ|เก็บรักษา|เปิดเผย|ส่ง|ส่งต่อ|โอน|ใช้|เข้าถึง|ได้รับ|บันทึก|ขอ|แบ่งปัน"
    r"|ประมวลผล|ตรวจสอบ|วิเคราะห์|ติดตาม|จดจำ)\|(ข้อมูล|ชื่อ|ที่อยู่|เอกสาร|ประวัติ|การ|ภาพ|รูป|หมายเลข|เบอร์)")
# A title asked as a question: "เราเก็บรวบรวมข้อมูลอะไรบ้าง", "เราเปิดเผยข้อมูลให้ใครบ้าง".
QUESTION_END = re.compile(r"\|(อะไร\|)?(บ้าง|อย่างไร|ไหม|ใคร|ที่ไหน|เมื่อไร|\?)\|$")
# "... ช่วยให้เราเข้าใจว่าผู้เยี่ยมชมใช้งานเว็บไซต์อย่างไร": a question inside a statement, not a title.
INDIRECT_QUESTION = re.compile(r"\|ว่า\|")
TITLE_MAX_CHARACTERS = 90
TITLE_MAX_TOKENS = 10
# A definition: "“ข้อมูลส่วนบุคคล” หมายถึง ...", "คุกกี้ คือ ...", a term glossed in English before
# a colon ("ข้อมูลอ่อนไหว (Sensitive Data): ข้อมูลส่วนบุคคลเกี่ยวกับ...") that states nothing.
MEANS_NEAR_START = re.compile(r"^\|([^|]+\|){1,8}(หมายถึง|หมายความว่า|หมายความถึง|หมายรวมถึง)\|")
IS_A = re.compile(r"^\|([“\"]\|)?([^|]+\|){1,3}([”\"]\|)?คือ\|")
GLOSSED_TERM = re.compile(r"^[-•*\s]*[^\s:()]{1,40}(\s[^\s:()]{1,20}){0,3}\s*\([A-Za-z][^()]{0,60}\)\s*:")
MODAL = re.compile(r"\|(อาจ|จะ|ต้อง|ได้|สามารถ)\|")
OUR_SUBJECT = re.compile(r"\|(เรา|บริษัท[^|]*)\|")
# The reader's right, or how to use it, opening the sentence: "สิทธิในการคัดค้านการเก็บรวบรวม...",
# "ท่านมีสิทธิขอให้...", "ท่านสามารถเพิกถอนความยินยอมในการเปิดเผย...", "ขอให้ลบ...".
RIGHT = r"สิทธิ์?\|"
RIGHTS_OPENER = re.compile(
    rf"^\|{SECTION_NUMBER}?"
    r"((ท่าน|คุณ|เจ้าของข้อมูล[^|]*|ผู้ใช้[^|]*|ผู้ปกครอง|นักเรียน)\|(จึง\||ยัง\||ก็\|)?)?"
    rf"(มี\|{RIGHT}|{RIGHT}|ใช้\|{RIGHT}|การ\|ใช้\|{RIGHT}"
    rf"|สามารถ\|(ใช้\|{RIGHT}|ขอ|เพิก|ถอนความยินยอม|คัดค้าน|ร้องขอ|ยื่น|ยกเลิก|ระงับ)"
    r"|ขอ\|?ให้\|(ลบ|แก้ไข|ระงับ|โอน)|ขอ\|(ลบ|แก้ไข|เข้าถึง|ระงับ|รับ|โอน)|ขอรับ|ถอนความยินยอม"
    r"|(การ\|)?เพิก\|ถอนความยินยอม|(การ\|)?ถอนความยินยอม|คัดค้าน|ร้องเรียน)")
# A later clause stating a practice after the rights notice ("... อย่างไรก็ตาม เราอาจเปิดเผย...").
PRACTICE_CLAUSE = re.compile(r"\|(อย่างไรก็ตาม|ทั้งนี้|แต่|นอกจากนี้)\|")
# A cross-reference: the matched phrase names a section ("โปรดดูรายละเอียดในหัวข้อ “การเปิดเผย...”",
# "ตามที่ระบุไว้ในข้อ 4 การเปิดเผยข้อมูล...").
REFERENCE_CUE = re.compile(
    r"\|(ดู|อ่าน|ศึกษา|ตรวจสอบ)\|(รายละเอียด\|)?(เพิ่มเติม\|)?(ได้\|)?(ที่\||ใน\||จาก\|)?"
    r"(หัวข้อ|ข้อ|ส่วน|หมวด|นโยบาย|ประกาศ)\|"
    r"|\|(ตาม|ดัง)(ที่)?\|?(ระบุ|กล่าว|แจ้ง|อธิบาย|กำหนด)\|(ไว้\|)?(แล้ว\|)?(ใน|ที่)\|(หัวข้อ|ข้อ|ส่วน|หมวด)\|"
    r"|\|(ใน|ตาม|ภายใต้)\|(หัวข้อ|ข้อ)\|([0-9๐-๙]|“|\")")
REFERENCE_PRACTICE = re.compile(r"\|(อาจ|จะ)\|")


# Where a new clause of a Thai sentence begins (in the token form): a connective followed within
# three words by a new predicate, a subject, a modal or a negation ("เราเก็บชื่อ แต่จะไม่เก็บเลขบัตร",
# "...ของผู้เข้าร่วม โดยจะไม่มีการเก็บข้อมูลอ่อนไหว"). A list of verbs under one negation ("ไม่เก็บ ใช้
# และเปิดเผย") has none, so the negation still governs all of it. A closing bracket followed by a
# subject starts one too ("...ผ่าน Stripe (PCI DSS) เราไม่เก็บเลขบัตร": the denial is the second's).
CLAUSE_BREAK = re.compile(
    r"\|(แต่|โดย|และ|อย่างไรก็ตาม|อย่างไรก็ดี|ทั้งนี้|นอกจากนี้|ส่วน|หรือ)(?=\|([^|]+\|){0,2}?"
    r"(จะ|อาจ|ไม่|มิ|มิได้|ต้อง|สามารถ|เรา|บริษัท[^|]*|ทาง|ท่าน|คุณ)\|)"
    r"|\|\)(?=\|(เรา|บริษัท[^|]*|ท่าน|คุณ)\|)")


def clause_starts(form: str) -> list[int]:
    """Offsets in a token form where its second, third, ... clause begin."""
    return [m.start() for m in CLAUSE_BREAK.finditer(form)]


def sentence_context(sentence: str, form: str) -> str | None:
    """'heading' or 'definition' when a Thai sentence (`form`: its token form) states no
    practice, else None."""
    text = sentence.strip()
    if "\n" not in text and not text.endswith(":") and not STATING.search(form) \
            and not AGENT_STATEMENT.match(form):
        if len(text) <= TITLE_MAX_CHARACTERS and (
                NUMBERED_TITLE.match(form) or (form.count("|") - 1 <= TITLE_MAX_TOKENS
                                               and TITLE_OPENER.match(form))):
            return "heading"
    if "\n" not in text and len(text) <= TITLE_MAX_CHARACTERS and QUESTION_END.search(form) \
            and not INDIRECT_QUESTION.search(form):
        return "heading"
    if MEANS_NEAR_START.match(form) or IS_A.match(form):
        return "definition"
    if GLOSSED_TERM.match(text) and not MODAL.search(form) and not OUR_SUBJECT.search(form):
        return "definition"
    return None


def phrase_context(form: str, span: tuple[int, int] | None) -> str | None:
    """'rights' or 'reference' when the phrase a rule matched (`span` in the token form) is the
    object of the reader's right or a section named in a cross-reference."""
    before = form[:(span[0] if span else len(form)) + 1]
    if RIGHTS_OPENER.match(form) and not PRACTICE_CLAUSE.search(before):
        return "rights"
    cues = list(REFERENCE_CUE.finditer(before))
    if cues and not REFERENCE_PRACTICE.search(before, 0, cues[-1].start() + 1):
        return "reference"
    return None
