"""Bytes to text: the charset a page declares, checked against what its bytes say."""

from __future__ import annotations

import codecs
import re

THAI_SINGLE_BYTE = re.compile(rb"[\xa1-\xda\xdf-\xfb]")
HIGH_BYTE_RUN = re.compile(rb"[\x80-\xff]{3,}")
LATIN_SINGLE_BYTE = {"cp1252", "latin-1", "iso8859-1", "ascii", "iso8859-15"}
THAI_ENCODINGS = {"cp874", "tis-620", "iso8859-11"}
META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.+-]+)""", re.I
)
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"))
# WHATWG's labels Python does not know, or knows as something else (latin-1 means windows-1252).
ENCODING_ALIASES = {"x-windows-874": "cp874", "windows-874": "cp874", "tis620": "cp874",
                    "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252",
                    "x-user-defined": "cp1252"}


def canonical_encoding(name: str | None) -> str | None:
    """Python's codec name for a charset label, or None for an unknown label."""
    if not name:
        return None
    label = name.strip().strip("\"'").lower()
    label = ENCODING_ALIASES.get(label, label)
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
    """The charset parameter of a Content-Type header, as written."""
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
    """The encoding of undeclared bytes: UTF-8, Thai single-byte, or charset_normalizer's guess."""
    if _utf8_or_none(body) is not None:
        return "utf-8"
    if looks_like_thai_single_byte(body):
        return "cp874"
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    return (canonical_encoding(best.encoding) if best else None) or "cp1252"


def decode_body(body: bytes, declared: str | None = None, content_type: str | None = None) -> str:
    """Text of a body: BOM, then the declared charset, then the HTTP one, then <meta>, then the bytes.

    A label the bytes contradict (TIS-620 sent as UTF-8 or as latin-1) is overruled.
    """
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, errors="replace")
    tried = set()
    for label in (declared, charset_from_content_type(content_type), meta_charset(body)):
        encoding = canonical_encoding(label)
        if not encoding or encoding in tried:
            continue
        tried.add(encoding)
        text = _decode_as(body, encoding)
        if text is not None:
            return text
    return body.decode(guess_encoding(body), errors="replace")
