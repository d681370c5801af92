"""The key groups scanner.prefilter derives from a regex: every match of the regex holds a word
beginning with a key of each group, so a sentence without one is never tried. Checked on shapes
the derivation reads (lookaheads, lookbehinds, a word an optional part may run into, digits) and
on every regex of the English rules against their own examples."""

import re

import pytest

from scanner.matching import load_rules
from scanner.prefilter import decimal_digits, pattern_keys

WORD = re.compile(r"\w+")


def words_of(sentence: str) -> set[str]:
    return set(WORD.findall(sentence.lower()))


def unmet_groups(regex: re.Pattern, sentence: str) -> list:
    """The key groups of the regex no word of the sentence begins with."""
    words = words_of(sentence)
    return [sorted(group)[:6] for group in pattern_keys(regex)
            if not any(word.startswith(key) for word in words for key in group)]


@pytest.mark.parametrize("pattern, group", [
    # the word after an optional "category" may run on from it ("categoryidentifiers")
    (r"^\W*(?:category:?\s*)?(?:[a-k][.)]\s*)?identifiers\b", {"category", "identifiers"}),
    # a positive lookahead's words are in the sentence too
    (r"^(?=.*\bcontextual(?:ly)?\b)(?!.*\binterest)", {"contextual"}),
    # a lookbehind's as well
    (r"(?:(?<=\bten\s)|(?<=\btwelve\s))years?\s+old", {"ten", "twelve"}),
    # after [\W\d]* a word may begin with a digit: "1sale" is one word
    (r"^[\W\d]*(?:our\s+)?(?:sale|selling)\s+of\b", {"sale", "selling", "our"} | decimal_digits()),
])
def test_derived_group(pattern, group):
    assert frozenset(group) in pattern_keys(re.compile(pattern, re.I))


@pytest.mark.parametrize("pattern", [
    r"^(?!.*\bcontextual)",  # a negative lookahead requires nothing
    r"^\W*(?:[\w.]{1,3}\s*)?identifiers\b",  # "abcidentifiers": the word's start is unknown
    r"\w+identifiers\b",
])
def test_no_group_from_what_may_not_be_there(pattern):
    assert not any("identifiers" in group for group in pattern_keys(re.compile(pattern, re.I)))


MIXED = [
    ("Categoryidentifiers: name", r"^\W*(?:category:?\s*)?(?:[a-k][.)]\s*)?identifiers\b"),
    ("b)identifiers such as your name", r"^\W*(?:category:?\s*)?(?:[a-k][.)]\s*)?identifiers\b"),
    ("1sale of data", r"^[\W\d]*(?:our\s+)?(?:sale|selling)\s+of\b"),
    ("\u0663sale of data", r"^[\W\d]*(?:our\s+)?(?:sale|selling)\s+of\b"),  # Arabic-Indic 3
    ("2. Our selling of data", r"^[\W\d]*(?:our\s+)?(?:sale|selling)\s+of\b"),
    ("we collected data", r"\bwe\s+(?:\w+\s+){0,2}collect\w*"),
    ("re-targeted ads", r"\bre-(?:target|market)\w*"),
    ("Some contextual ads", r"^(?=.*\bcontextual(?:ly)?\b)(?!.*\binterest)"),
    ("under ten years old", r"(?:(?<=\bten\s)|(?<=\btwelve\s))years?\s+old"),
]


@pytest.mark.parametrize("sentence, pattern", MIXED)
def test_every_match_holds_its_key_groups(sentence, pattern):
    regex = re.compile(pattern, re.I)
    assert regex.search(sentence), "the sentence is meant to match"
    assert pattern_keys(regex), "and the regex to have key groups"
    assert unmet_groups(regex, sentence) == []


def test_every_rule_regex_keeps_the_examples_it_matches():
    """Each regex of every English rule (patterns, near terms, except, unless): wherever it
    matches one of the rules' example sentences, the sentence holds its key groups."""
    rules = [r for r in load_rules(include_deprecated=True) if r.lang == "en"]
    examples = sorted({s for r in rules for s in r.examples["match"] + r.examples["no_match"]})
    regexes = {(x.pattern, x.flags): x for r in rules for x in (
        *r.patterns, *(t for c in r.near for t in c.terms), *r.exceptions, *r.unless)}
    checked = 0
    for regex in regexes.values():
        if not pattern_keys(regex):
            continue
        for sentence in examples:
            if regex.search(sentence):
                assert unmet_groups(regex, sentence) == [], (regex.pattern[:120], sentence)
                checked += 1
    assert checked > 1000
