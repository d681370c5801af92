"""The language of a policy text: Thai or English from its script and common words."""

from __future__ import annotations

import re

THAI_CHAR = re.compile(r"[\u0E00-\u0E7F]")
THAI_RUN = re.compile(r"[\u0E00-\u0E7F]+")
LATIN_RUN = re.compile(r"[A-Za-z]+")

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
