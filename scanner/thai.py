"""Thai text through pythainlp (offline): sentence cuts and the word tokens rules match."""

from __future__ import annotations

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
# pythainlp words that swallow a verb the rules look for (ประมวลผล|ข้อมูล, ใช้|การ, ร้องเรียน|ต่อ).
HIDING_WORDS = ("ประมวลผลข้อมูล", "ใช้การ", "ใช้กับ", "ใช้บน", "ใช้ได้", "ใช้ไม่ได้", "ไม่เป็นการ",
                "ห้ามไม่ให้", "เรียนต่อ")


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
    if len(previous) < MIN_THAI_SENTENCE:
        return True
    last_word = previous.rsplit(" ", 1)[-1]
    if previous.endswith(".") and len(last_word) <= 5:
        return True  # an abbreviation such as พ.ศ. or ม.
    # "เก็บรวบรวม ใช้ และเปิดเผย": a short word then a space is a list, not a sentence
    first_word = segment.split(" ", 1)[0]
    return len(first_word) <= 4 and " " in segment
