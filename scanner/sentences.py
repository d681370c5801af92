"""Sentence offsets in policy text: English boundaries, Thai lines through pythainlp, lists kept
with the line that leads them in; a text's headings and each sentence's heading path."""

from __future__ import annotations

import re
from typing import NamedTuple

from scanner.language import THAI_CHAR
from scanner.thai import sentence_spans as thai_sentence_spans

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


def _line_spans(line: str, offset: int, lang: str) -> list[tuple[int, int]]:
    """Sentences of one line; a line in Thai script goes to the Thai cutter unless lang is 'en'."""
    if lang != "en" and THAI_CHAR.search(line):
        return [(offset + s, offset + e) for s, e in thai_sentence_spans(line)]
    return _spans_from_cuts(line, offset, _english_boundaries(line))


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
        line_spans = _line_spans(line, offset, lang)
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


# --- headings: a document's outline and each sentence's heading path ----------------------------

class Heading(NamedTuple):
    """A section title of a text: offsets of the title, its depth, and where its section ends."""

    start: int          # where the title begins in the text
    level: int          # 1-6: h1-h6, Markdown #, PDF outline depth; see the LEVEL_ constants
    title: str          # as shown, without Markdown marks or closing ':' / '.'
    end: int            # where the title ends in the text
    until: int | None = None  # a lead-in's section ends with its paragraph; None: at the next
    #                           heading of the same or a higher level


LEVEL_NUMBERED = 7   # "3. How we share" is 7, "3.1 Advertising" 8, ...
LEVEL_LINE = 10      # a bold-only paragraph, or a line that looks like a title
LEVEL_LEAD_IN = 11   # "<b>Children's Privacy.</b> We do not ...": the paragraph it opens
PATH_SEPARATOR = " > "

# A heading: one short line without end punctuation, in capitals or Title Case
# ("CROSS-BORDER TRANSFER", "Sale or Merger", "3. Information We Share").
HEADING_WORD = re.compile(r"[A-Za-z][\w'’-]*")
HEADING_SMALL_WORDS = frozenset("a an and as at by for from in of on or the to with your our we "
                                "you us how what why who when where do not my".split())
HEADING_MAX_WORDS = 10
MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(\S.*?)(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^(?:={3,}|-{3,})$")  # "Title" then "=====" (level 1) or "-----" (2)
MARKDOWN_MARKUP = re.compile(r"\[([^\]]*)\]\([^)]*\)|\*\*|__|\\(?=[^\w\s])")  # links, bold, escapes
# "3. How we share", "4.2 Advertising partners", "Section 5 - Children": a numbered title.
NUMBERED_HEADING = re.compile(r"^(?:(?:section|article|part)\s+)?(\d{1,2}(?:\.\d{1,2}){0,3})\.?"
                              r"(?:\s+[-–—:]\s*|\s+)(?=[A-Z“\"'(])(\S.*)$", re.I)
NUMBERED_HEADING_MAX_WORDS = 8
# A numbered line starting with these is a statement ("2. We share it with ..."), not a title.
STATEMENT_START = re.compile(r"(?:we|they|it|i|he|she|this|these|our\s+\w+\s+(?:may|will|can|do"
                             r"|does|use|share|collect))\b", re.I)
TITLE_END = re.compile(r"[\s:.\u2013\u2014-]+$")


def is_heading(sentence: str) -> bool:
    """A short line with no end punctuation, in capitals or Title Case: a section title."""
    if "\n" in sentence or sentence[-1:] in ".!?:;,":
        return False
    words = HEADING_WORD.findall(sentence)
    if not words or len(words) > HEADING_MAX_WORDS:
        return False
    letters = [c for c in sentence if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(letters) > 3:
        return True
    content = [w for w in words if w.lower() not in HEADING_SMALL_WORDS]
    return bool(content) and all(w[0].isupper() for w in content) and words[0][0].isupper()


def numbered_heading_level(line: str) -> int | None:
    """The level of a numbered title line ("3. How we share" -> 7, "3.1 Ads" -> 8), else None."""
    m = NUMBERED_HEADING.match(line)
    if m is None or line[-1:] in ".!?;,:" or len(line) > 100:
        return None
    rest = m.group(2)
    if len(rest.split()) > NUMBERED_HEADING_MAX_WORDS or STATEMENT_START.match(rest):
        return None
    return LEVEL_NUMBERED + m.group(1).count(".")


def clean_title(title: str) -> str:
    """A title as a heading path shows it: single spaces, no closing ':' or '.'."""
    return TITLE_END.sub("", " ".join(title.split()))


def text_headings(text: str) -> list[Heading]:
    """The headings a plain text shows: Markdown `#` lines, numbered titles ("3. How we share")
    and short lines in capitals or Title Case; never a bulleted line or an item of a list."""
    headings: list[Heading] = []
    position, previous, prose = 0, "", None  # prose: (start, line) of the line just before
    for line in text.split("\n"):
        start, stripped = position, line.strip()
        position += len(line) + 1
        if not stripped:
            prose = None
            continue
        if prose is not None and SETEXT_UNDERLINE.match(stripped):
            lead, title = prose
            if headings and headings[-1].start == lead:
                headings.pop()  # a title line already: the underline says its level
            headings.append(Heading(lead, 1 if stripped[0] == "=" else 2,
                                    clean_title(MARKDOWN_MARKUP.sub(r"\1", title)), lead + len(title)))
            previous, prose = stripped, None
            continue
        if stripped[0] != "#" and (len(stripped) > 120 or stripped[-1] in ".!?;,:"):
            previous, prose = stripped, None  # a sentence, not a title: ruled out at once
            continue
        lead = start + len(line) - len(line.lstrip())
        prose = None if stripped[0] == "#" or BULLET_LINE.match(stripped) else (lead, stripped)
        end = lead + len(stripped)
        markdown = MARKDOWN_HEADING.match(stripped)
        if markdown:
            headings.append(Heading(lead, len(markdown.group(1)),
                                    clean_title(MARKDOWN_MARKUP.sub(r"\1", markdown.group(2))), end))
        elif not BULLET_LINE.match(stripped) and not previous.endswith(":"):
            level = numbered_heading_level(stripped)
            # Thai script has no capitals: a Thai line's Latin words say nothing of its case
            if level is None and len(stripped) <= 120 and is_heading(stripped) \
                    and not THAI_CHAR.search(stripped):
                level = LEVEL_LINE
            if level is not None:
                headings.append(Heading(lead, level, clean_title(stripped), end))
        previous = stripped
    return headings


def heading_paths(spans: list[tuple[int, int]], headings, section: str = "") -> list[tuple[str, bool]]:
    """(heading path, is a title) of each sentence span, in order: the titles of the sections
    the sentence is in, outermost first, joined by ' > ' after `section` (the path the whole
    text sits under). A title's own path is that of its parent sections; a lead-in title joined
    with its list ("Categories we have sold:" + items) is in the path of that sentence."""
    prefix = [clean_title(section)] if section.strip() else []
    if not headings:
        return [(PATH_SEPARATOR.join(prefix), False)] * len(spans)
    ordered = sorted(headings, key=lambda h: (h.start, h.level))
    stack: list[Heading] = []
    out, i, paths = [], 0, {}
    for start, end in spans:
        while i < len(ordered) and ordered[i].start <= start:
            heading = ordered[i]
            i += 1
            while stack and (stack[-1].level >= heading.level
                             or (stack[-1].until is not None and stack[-1].until <= heading.start)):
                stack.pop()
            stack.append(heading)
        while stack and stack[-1].until is not None and stack[-1].until <= start:
            stack.pop()
        titled = bool(stack) and stack[-1].start <= start and end <= stack[-1].end
        depth = len(stack) - titled
        key = (stack[-1] if stack else None, depth)  # the same section: the same path
        path = paths.get(key)
        if path is None:
            path = paths[key] = PATH_SEPARATOR.join(prefix + [h.title for h in stack[:depth]
                                                              if h.title])
        out.append((path, titled))
    return out


def sentence_heading_paths(text: str, headings=None, lang: str = "en",
                           section: str = "") -> list[tuple[int, int, str]]:
    """(start, end, heading path) of each sentence of text; headings: the document's outline
    (None: read from the text itself, text_headings)."""
    spans = split_sentences(text, lang)
    outline = text_headings(text) if headings is None else headings
    return [(s, e, path) for (s, e), (path, _title) in zip(spans, heading_paths(spans, outline, section),
                                                         strict=True)]
