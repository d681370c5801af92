"""Thai text for the rules: pythainlp word segmentation (offline, newmm)."""

from __future__ import annotations

from functools import lru_cache

TOKEN_SEPARATOR = "|"


@lru_cache(maxsize=1)
def _tokenizer():
    from pythainlp.tokenize import word_tokenize

    return word_tokenize


def tokens(text: str) -> list[str]:
    return [t for t in _tokenizer()(text, engine="newmm", keep_whitespace=False) if t.strip()]


def tokenized_form(sentence: str) -> str:
    """The form Thai rule patterns match: tokens joined and framed by '|', e.g. '|เรา|ไม่|ขาย|'.

    A pattern `\\|ขาย\\|` then matches the word ขาย and not the ขาย inside ซื้อขาย.
    """
    return TOKEN_SEPARATOR + TOKEN_SEPARATOR.join(tokens(sentence)) + TOKEN_SEPARATOR
