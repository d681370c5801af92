"""Policy text: decoding, main-content extraction (HTML, PDF), language and sentences."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from bs4 import BeautifulSoup

THAI_CHAR = re.compile(r"[\u0E00-\u0E7F]")
LATIN_CHAR = re.compile(r"[A-Za-z]")
BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "form", "svg",
                    "button", "iframe", "template")
BLOCK_TAGS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article",
              "br", "dd", "dt", "blockquote", "pre", "table", "ul", "ol", "main")


@dataclass
class ExtractedText:
    text: str
    title: str = ""
    lang: str = "und"


def normalise_text(text: str) -> str:
    """Collapse runs of spaces inside lines and blank lines between them; the hashed form."""
    lines = [re.sub(r"[ \t\u00a0\u200b]+", " ", line).strip() for line in text.splitlines()]
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


def detect_lang(text: str) -> str:
    """Thai or English by script; 'und' when there is too little text to tell."""
    thai = len(THAI_CHAR.findall(text))
    latin = len(LATIN_CHAR.findall(text))
    if thai + latin < 20:
        return "und"
    return "th" if thai >= latin * 0.3 else "en"


def decode_body(body: bytes, declared: str | None = None) -> str:
    """Decode HTML bytes with the declared charset, falling back to UTF-8 then windows-874."""
    for encoding in filter(None, [declared, "utf-8", "cp874"]):
        try:
            return body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode("utf-8", errors="replace")


def extract_html_text(html: str) -> ExtractedText:
    soup = BeautifulSoup(html, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(BOILERPLATE_TAGS):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    for tag in root.find_all(BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = normalise_text(root.get_text())
    return ExtractedText(text=text, title=title, lang=detect_lang(text))


def extract_pdf_text(body: bytes) -> ExtractedText:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(body))
    pages = [page.extract_text() or "" for page in reader.pages]
    text = normalise_text("\n".join(pages))
    title = ""
    if reader.metadata and reader.metadata.title:
        title = str(reader.metadata.title)
    return ExtractedText(text=text, title=title, lang=detect_lang(text))


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def split_sentences(text: str, lang: str = "en") -> list[tuple[int, int]]:
    """Return (start, end) offsets of each sentence in text."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]
