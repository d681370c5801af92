"""Policy text: decoding, main-content extraction (HTML, PDF), language and sentences."""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from bs4 import BeautifulSoup
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

THAI_CHAR = re.compile(r"[\u0E00-\u0E7F]")
LATIN_CHAR = re.compile(r"[A-Za-z]")
THAI_RUN = re.compile(r"[\u0E00-\u0E7F]+")
LATIN_RUN = re.compile(r"[A-Za-z]+")

# Never text: removed wherever they are.
NON_TEXT_TAGS = ("script", "style", "noscript", "svg", "template", "iframe", "button", "select",
                 "input", "textarea", "canvas", "object", "embed", "head", "dialog")
BLOCK_TAGS = frozenset((
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
    "table", "thead", "tbody", "tfoot", "caption", "section", "article", "main", "header",
    "footer", "aside", "nav", "address", "blockquote", "pre", "figure", "figcaption", "hr",
    "details", "summary", "fieldset", "legend", "center", "form", "body", "html",
))
CELL_TAGS = frozenset(("td", "th"))
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")

# Page furniture by class, id or role: menus, cookie banners, share bars. Bare "cookies",
# "consent" or "sharing" are left alone: policies name their own sections that way.
FURNITURE_TOKENS = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|menubar|mega-?menu|breadcrumbs?|sidebar|"
    r"site-?footer|footer|global-?footer|cookie-?(?:banner|bar|notice|consent|law|popup|modal|"
    r"dialog|box|wrapper|container)|cookiebanner|cookieconsent|consent-?(?:banner|bar|manager|"
    r"modal|dialog|popup)|gdpr-?(?:banner|consent|popup)|skip-?link|skip-?to-?content|"
    r"back-?to-?top|share-?(?:bar|buttons|links|icons|tools)|social-?(?:share|links|icons|"
    r"buttons|media-links|follow))(?:$|[-_\s\d])"
    r"|onetrust|ot-sdk|cookiebot|usercentrics|didomi|osano|truste-|qc-cmp|cmplz|cky-consent|"
    r"cc-window|cc-banner|iubenda",
    re.I,
)
# Weaker signs: removed only when they hold no heading (a section header keeps its title).
WEAK_FURNITURE_TOKENS = re.compile(
    r"(?:^|[-_\s])(?:header|site-?header|masthead|topbar|top-?bar|banner|popup|modal|toolbar|"
    r"related|announcement|promo|app-?download|newsletter|subscribe|social|share)"
    r"(?:$|[-_\s\d])",
    re.I,
)
FURNITURE_ROLES = {"navigation", "contentinfo", "search", "dialog", "alertdialog", "menu",
                   "menubar", "complementary"}
CONTENT_SELECTORS = ("main", "[role=main]", "article", "#content", "#main", "#main-content",
                     ".main-content", ".content", ".entry-content", ".post-content")


@dataclass
class ExtractedText:
    text: str
    title: str = ""
    lang: str = "und"


TYPOGRAPHIC_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                                    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2032": "'"})


class _Break(NavigableString):
    """A line break the extractor inserts around block elements."""


# ---------------------------------------------------------------- normalising


def normalise_text(text: str) -> str:
    """NFC, straight quotes, no zero-width characters, single spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text)
    # PDF text often spells SARA AM as NIKHAHIT + SARA AA; both render alike, one hash.
    text = text.replace("\u0e4d\u0e32", "\u0e33")
    text = re.sub(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]", "", text)
    # "don’t sell" and "don't sell" are one text to the rules and to the hash.
    text = text.translate(TYPOGRAPHIC_QUOTES)
    lines = [re.sub(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+", " ", line).strip()
             for line in text.splitlines()]
    out, blank = [], False
    for line in lines:
        if not line:
            blank = bool(out)
            continue
        if blank:
            out.append("")
            blank = False
        out.append(line)
    return "\n".join(out)


# ---------------------------------------------------------------- language

ENGLISH_WORDS = frozenset(
    "the and of to we you your our or in is for with that this by may are not be as on from "
    "information personal data use will any which it if can such other us".split()
)


def detect_lang(text: str, declared: str | None = None) -> str:
    """'th' or 'en' from the script and common words; the page's own lang for other Latin text."""
    # Runs, not single characters: the lists stay a few words long instead of one per letter.
    thai = sum(map(len, THAI_RUN.findall(text)))
    latin = sum(map(len, LATIN_RUN.findall(text)))
    if thai + latin < 20:
        return "und"
    if thai >= latin * 0.3:
        return "th"
    words = re.findall(r"[a-z]+", text[:20000].lower())
    english_share = sum(map(ENGLISH_WORDS.__contains__, words)) / max(1, len(words))
    if english_share >= 0.12:
        return "en"
    primary = (declared or "").split("-")[0].split("_")[0].strip().lower()
    if re.fullmatch(r"[a-z]{2,3}", primary) and primary not in ("en", "th"):
        return primary
    return "en" if english_share >= 0.06 else "und"


# ---------------------------------------------------------------- charsets

THAI_SINGLE_BYTE = re.compile(rb"[\xa1-\xda\xdf-\xfb]")
HIGH_BYTE_RUN = re.compile(rb"[\x80-\xff]{3,}")
LATIN_SINGLE_BYTE = {"cp1252", "latin-1", "iso8859-1", "ascii", "iso8859-15"}
THAI_ENCODINGS = {"cp874", "tis-620", "iso8859-11"}
META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.+-]+)""", re.I
)
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"))


def canonical_encoding(name: str | None) -> str | None:
    """Python's codec name for a charset label; WHATWG's aliases (latin-1 means windows-1252)."""
    if not name:
        return None
    label = name.strip().strip("\"'").lower()
    aliases = {"x-windows-874": "cp874", "windows-874": "cp874", "tis620": "cp874",
               "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
               "x-user-defined": "cp1252"}
    label = aliases.get(label, label)
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        return None
    if codec in LATIN_SINGLE_BYTE:
        return "cp1252"
    if codec in THAI_ENCODINGS:
        return "cp874"
    return codec


def charset_from_content_type(content_type: str | None) -> str | None:
    match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type or "", re.I)
    return match.group(1) if match else None


def meta_charset(body: bytes) -> str | None:
    """The charset a page declares in its first 4 KB (<meta charset> or http-equiv)."""
    match = META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii", "ignore") if match else None


def looks_like_thai_single_byte(body: bytes) -> bool:
    """Bytes that read as Thai in TIS-620: high bytes in the Thai range, in runs (words)."""
    high = sum(1 for b in body if b >= 0x80)
    if high < 8:
        return False
    thai = len(THAI_SINGLE_BYTE.findall(body))
    in_runs = sum(len(m) for m in HIGH_BYTE_RUN.findall(body))
    return thai >= 0.9 * high and in_runs >= 0.6 * high


def _utf8_or_none(body: bytes) -> str | None:
    """UTF-8 when the bytes are UTF-8, tolerating a stray bad byte in a long page."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7f) - bad
    if bad <= 3 and multibyte >= 20 * bad:
        return text
    return None


def _decode_as(body: bytes, encoding: str) -> str | None:
    """Decode with a declared encoding, or None when the bytes show the label is wrong."""
    if encoding == "utf-8":
        return _utf8_or_none(body)
    if encoding == "cp1252":
        # Pages labelled latin-1 are often UTF-8 or Thai in truth; trust the bytes.
        if max(body, default=0) < 0x80:
            return body.decode("ascii")
        utf8 = _utf8_or_none(body)
        if utf8 is not None:
            return utf8
        if looks_like_thai_single_byte(body):
            return body.decode("cp874", errors="replace")
        return body.decode("cp1252", errors="replace")
    if encoding == "cp874":
        try:
            text = body.decode("utf-8")
            if max(body, default=0) >= 0x80:
                return text  # UTF-8 labelled TIS-620: the bytes cannot be both
        except UnicodeDecodeError:
            pass
        return body.decode("cp874", errors="replace")
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def guess_encoding(body: bytes) -> str:
    if _utf8_or_none(body) is not None:
        return "utf-8"
    if looks_like_thai_single_byte(body):
        return "cp874"
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    return canonical_encoding(best.encoding) if best else "cp1252"


def decode_body(body: bytes, declared: str | None = None, content_type: str | None = None) -> str:
    """Text of an HTML body: BOM, then the HTTP charset, then <meta charset>, then the bytes.

    A label the bytes contradict (TIS-620 sent as UTF-8 or as latin-1) is overruled.
    """
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, errors="replace")
    labels = [declared, charset_from_content_type(content_type), meta_charset(body)]
    tried = set()
    for label in labels:
        encoding = canonical_encoding(label)
        if not encoding or encoding in tried:
            continue
        tried.add(encoding)
        text = _decode_as(body, encoding)
        if text is not None:
            return text
    encoding = guess_encoding(body) or "cp1252"
    return body.decode(encoding, errors="replace")


# ---------------------------------------------------------------- HTML


def _text_length(tag: Tag) -> int:
    return len(re.sub(r"\s+", "", tag.get_text()))


def _furniture_kind(tag: Tag) -> str | None:
    """'strong' or 'weak' when a tag looks like page furniture rather than content."""
    name = tag.name
    if name in ("nav", "aside"):
        return "strong"
    if name in ("header", "footer") and not tag.find_parent(["main", "article"]):
        return "strong" if name == "footer" else "weak"
    attrs = tag.attrs or {}
    role = str(attrs.get("role", "")).lower()
    if role in FURNITURE_ROLES or role == "banner":
        return "strong" if role != "banner" else "weak"
    if str(attrs.get("aria-modal", "")).lower() == "true":
        return "strong"
    classes = attrs.get("class") or []
    label = " ".join([str(attrs.get("id", "")), *classes, str(attrs.get("aria-label", ""))])
    if not label.strip():
        return None
    if FURNITURE_TOKENS.search(label):
        return "strong"
    if WEAK_FURNITURE_TOKENS.search(label):
        return "weak"
    return None


def remove_furniture(root: Tag) -> None:
    """Drop menus, headers, footers and cookie banners, but never what holds most of the page."""
    total = max(1, _text_length(root))
    for tag in list(root.find_all(True)):
        if tag.decomposed or tag.name in ("html", "body", "main", "article"):
            continue
        kind = _furniture_kind(tag)
        if kind is None:
            continue
        length = _text_length(tag)
        # A wrapper that holds most of the text is the content, whatever its class says
        # (e.g. <div id="cookie-policy"> on a cookie policy page).
        if length > 0.4 * total and total > 400:
            continue
        if kind == "weak" and tag.find(HEADINGS):
            continue
        if tag.find("h1") and kind != "strong":
            continue
        tag.decompose()


def _content_root(soup: BeautifulSoup) -> Tag:
    """The element holding the main content: <main>, an article, or the body."""
    body = soup.body or soup
    total = max(1, _text_length(body))
    for selector in CONTENT_SELECTORS:
        candidates = soup.select(selector)
        if not candidates:
            continue
        best = max(candidates, key=_text_length)
        if _text_length(best) >= 0.5 * total:
            return best
    return body


def render_blocks(root: Tag) -> str:
    """Text with a line per block element, cells space-separated, source whitespace collapsed."""
    for tag in root.find_all(BLOCK_TAGS | CELL_TAGS | {"br"}):
        if tag.name == "br":
            tag.replace_with(_Break("\n"))
        elif tag.name == "li":
            # A visible bullet keeps list items apart as the reader sees them.
            parent = tag.find_parent(["ol", "ul"])
            marker = "- "
            if parent is not None and parent.name == "ol":
                items = parent.find_all("li", recursive=False)
                start = int(parent.get("start", 1)) if str(parent.get("start", "1")).isdigit() else 1
                marker = f"{start + items.index(tag)}. " if tag in items else "- "
            tag.insert_before(_Break("\n" + marker))
            tag.insert_after(_Break("\n"))
        elif tag.name in CELL_TAGS:
            tag.insert_before(_Break(" "))
            tag.insert_after(_Break(" "))
        else:
            tag.insert_before(_Break("\n"))
            tag.insert_after(_Break("\n"))
    parts = []
    for node in root.descendants:
        if isinstance(node, _Break):
            parts.append(str(node))
        elif isinstance(node, NavigableString) and not isinstance(
            node, (Comment, Declaration, Doctype, ProcessingInstruction)
        ):
            parts.append(re.sub(r"\s+", " ", str(node)))
    return "".join(parts)


def extract_html_text(html: str) -> ExtractedText:
    """Main content of a policy page: headings and paragraphs, without the site's furniture."""
    soup = BeautifulSoup(html, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    html_tag = soup.find("html")
    declared_lang = html_tag.get("lang") if html_tag else None
    for tag in soup(NON_TEXT_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"aria-hidden": "true"}):
        # Icons and decorative duplicates; a hidden accordion panel with real text stays.
        if not tag.decomposed and _text_length(tag) < 40:
            tag.decompose()
    remove_furniture(soup.body or soup)
    root = _content_root(soup)
    text = normalise_text(render_blocks(root))
    if not title:
        h1 = root.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    return ExtractedText(text=text, title=re.sub(r"\s+", " ", title).strip(),
                         lang=detect_lang(text, declared_lang))


# ---------------------------------------------------------------- PDF


class PdfError(ValueError):
    """A PDF that cannot be read; the message says why."""


def reflow_pdf_lines(text: str) -> str:
    """Join the hard line breaks of a PDF inside a sentence; keep breaks after full stops."""
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if out and stripped and out[-1]:
            previous = out[-1]
            continues = (
                not re.search(r"[.!?:;。\u0e2f]$|^\W*$", previous)
                and not re.match(r"^([-•●▪◦*·]|\(?\d{1,2}[.)]|\(?[a-z][.)]\s)", stripped)
                and (stripped[0].islower() or THAI_CHAR.match(stripped[0]) or stripped[0] in "(,")
            )
            if continues:
                if previous.endswith("-") and stripped[0].islower():
                    out[-1] = previous[:-1] + stripped
                else:
                    out[-1] = previous + " " + stripped
                continue
        out.append(stripped)
    return "\n".join(out)


def extract_pdf_text(body: bytes) -> ExtractedText:
    """Text of a PDF policy, lines rejoined into sentences; PdfError when unreadable."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    except (PdfReadError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
        raise PdfError(f"unreadable PDF: {type(exc).__name__}: {exc}"[:300]) from None
    text = normalise_text(reflow_pdf_lines(normalise_text("\n\n".join(pages))))
    return ExtractedText(text=text, title=title.strip(), lang=detect_lang(text))


# ---------------------------------------------------------------- sentences

ABBREVIATIONS = frozenset(
    "e.g i.e etc inc ltd co corp llc plc gmbh mr mrs ms dr prof st no nos vs cf al approx "
    "dept est fig jr sr u.s u.k e.u u.s.a sec art para pp p ca viz jan feb mar apr jun jul aug "
    "sep sept oct nov dec govt int'l a.m p.m ph.d b.v n.v s.a pty pte bhd".split()
)
# A run of end punctuation and closing quotes; it ends a sentence only when whitespace follows.
# (Matched without a lookahead so a long run of dots is scanned once, not once per dot.)
SENTENCE_CANDIDATE = re.compile(r"[.!?]+[\"')\]”’]*")
WHITESPACE = re.compile(r"\s")
NEXT_STARTS_SENTENCE = re.compile(r"\s+[\"'(\[“‘]?[A-Z0-9\u0E00-\u0E7F•●▪\-]")
LIST_MARKER = re.compile(r"^\s*(?:[-•●▪◦*·–]|\(?\d{1,3}(?:\.\d{1,3})*[.)]|\(?[a-zA-Z][.)]|\(?[ivx]{1,4}[.)])\s*$")
MAX_JOINED_ITEMS = 15  # list items kept with the line ending in ':' that leads them in
BULLET_LINE = re.compile(r"^\s*[-•●▪◦*·–]\s+")
LIST_ITEM_LINE = re.compile(r"^\s*(?:[-•●▪◦*·–]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")
ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
TOKEN_CHARS = ASCII_LETTERS | {".", "'"}
INITIAL = re.compile(r"[a-z]|(?:[a-z]\.)+[a-z]")


def _token_before(line: str, end: int) -> str:
    """The word (letters, dots, apostrophes; starting with a letter) that ends at `end`, lower case.

    Scans back from `end` instead of searching the whole prefix, so a long line stays linear.
    """
    start = end
    while start > 0 and line[start - 1] in TOKEN_CHARS:
        start -= 1
    while start < end and line[start] not in ASCII_LETTERS:
        start += 1
    return line[start:end].lower()


def _english_boundaries(line: str) -> list[int]:
    """Offsets in line where a sentence ends (after its punctuation)."""
    cuts = []
    for match in SENTENCE_CANDIDATE.finditer(line):
        end = match.end()
        if not WHITESPACE.match(line, end) or not NEXT_STARTS_SENTENCE.match(line, end):
            continue
        if line[match.start()] == ".":
            token = _token_before(line, match.start())
            if token in ABBREVIATIONS or token.rstrip(".") in ABBREVIATIONS:
                continue
            if INITIAL.fullmatch(token):
                continue  # initials and dotted acronyms: J. Smith, U.S.
            if LIST_MARKER.match(line, 0, end):
                continue  # "1. " or "a. " opening a list item
        cuts.append(end)
    return cuts


def _spans_from_cuts(line: str, offset: int, cuts: list[int]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for cut in cuts + [len(line)]:
        piece = line[start:cut]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((offset + start + lead, offset + start + len(piece.rstrip())))
        start = cut
    return spans


def _is_list_item(line: str) -> bool:
    """A bulleted or numbered item, or a short unpunctuated line, that is not a heading."""
    if BULLET_LINE.match(line):
        return True
    words = re.findall(r"[A-Za-z][\w'-]*", LIST_ITEM_LINE.sub("", line))
    long_words = [w for w in words if len(w) > 3]
    if long_words and sum(w[0].isupper() for w in long_words) >= 0.6 * len(long_words) \
            and len(long_words) >= 2 and not re.search(r"[.;,]$", line):
        return False  # "2. Information We Collect" is the next heading
    if LIST_ITEM_LINE.match(line):
        return True
    return 0 < len(line) <= 160 and not re.search(r"[.!?]$", line) and not line[:1].isupper()


def split_sentences(text: str, lang: str = "en") -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence in text; text[start:end] is the sentence.

    Lines are never joined, except a line ending in ':' with the short list items under it, so
    "We share your data with:" keeps its list. Thai lines go through pythainlp.
    """
    spans: list[tuple[int, int]] = []
    lines = []
    position = 0
    for line in text.split("\n"):
        lines.append((position, line))
        position += len(line) + 1
    index = 0
    while index < len(lines):
        offset, line = lines[index]
        index += 1
        if not line.strip():
            continue
        if lang == "th" or (lang != "en" and THAI_CHAR.search(line)):
            line_spans = _thai_line_spans(line, offset) if THAI_CHAR.search(line) else \
                _spans_from_cuts(line, offset, _english_boundaries(line))
        else:
            line_spans = _spans_from_cuts(line, offset, _english_boundaries(line))
        if line.rstrip().endswith(":") and line_spans:
            items = 0
            end = line_spans[-1][1]
            while items < MAX_JOINED_ITEMS:
                ahead = index
                while ahead < len(lines) and not lines[ahead][1].strip():
                    ahead += 1
                if ahead >= len(lines) or not _is_list_item(lines[ahead][1].strip()):
                    break
                next_offset, next_line = lines[ahead]
                end = next_offset + len(next_line.rstrip())
                items += 1
                index = ahead + 1
            line_spans[-1] = (line_spans[-1][0], end)
        spans.extend(line_spans)
    return spans


def _thai_line_spans(line: str, offset: int) -> list[tuple[int, int]]:
    return [(offset + s, offset + e) for s, e in _thai_sentence_spans(line)]


@lru_cache(maxsize=2048)
def _thai_sentence_spans(line: str) -> tuple:
    """pythainlp's sentence cut of one line (the slow part of Thai text), kept for lines that
    recur: the same policy re-scanned, or the boilerplate many Thai policies share."""
    from scanner.thai import sentence_spans

    return tuple(sentence_spans(line))
