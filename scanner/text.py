"""Policy text, one import for the callers that predate the split: charset decoding
(scanner.charset), document extraction (scanner.extract), language (scanner.language) and
sentence offsets (scanner.sentences). New code imports from those modules."""

from __future__ import annotations

from scanner.charset import decode_body
from scanner.extract import (
    DocumentError, ExtractedText, PdfError, UnsupportedDocument, extract_document,
    extract_html_text, extract_pdf_text, normalise_text,
)
from scanner.language import detect_lang
from scanner.sentences import MAX_JOINED_ITEMS, split_sentences
# bench/rules_speed.py empties this cache to time Thai sentence cutting cold.
from scanner.thai import sentence_spans as _thai_sentence_spans

__all__ = [
    "MAX_JOINED_ITEMS", "DocumentError", "ExtractedText", "PdfError", "UnsupportedDocument",
    "_thai_sentence_spans", "decode_body", "detect_lang", "extract_document", "extract_html_text",
    "extract_pdf_text", "normalise_text", "split_sentences",
]
