"""Sentence offsets in policy text: English boundaries, Thai lines through pythainlp, lists kept
with the line that leads them in."""

from __future__ import annotations

import re

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
