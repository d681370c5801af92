"""Shortcuts of the rule engine's sentence context and clause checks (issue 14's throughput)
give the same answers as the plain regexes they stand in front of."""

import random

from helpers import ROOT
from scanner.engine import (CLAUSE_BREAK, CLAUSE_BREAK_PLAIN, CROSS_REFERENCE, CROSS_REFERENCE_WORDS,
                            RIGHTS_CUE, RIGHTS_CUE_WORDS, clause_starts, phrase_context)

# Breaks of every kind, the exceptions to them, tabs, runs of blanks and upper case.
CLAUSE_SENTENCES = [
    "We collect your email; we share it with partners: advertisers and analytics.",
    "We do not sell data for: interest-based ads, but only for research.",
    "Our app does not: sell or share personal data, however it may log crashes.",
    "We collect data,\twe use it, and may share it, and will not sell it and can\tkeep it.",
    "We never: share it. As: a rule, NOT: this; To: you. With: them, WHEREAS they do.",
    "Data is kept , but  we delete it,so you can ask, and so third-party apps, partners sign.",
    "Items: a , b ,  c;  d;e and also f and  never g, although h,yet i, third party j.",
]


def _random_sentences(count: int) -> list[str]:
    pieces = [" ", "\t", ",", ";", ":", "but", "only", "and", "may", "not", "never", "we",
              "for", "to", "x", "However", "third party", "so", "\n", "As", "NOT", "WILL"]
    rng = random.Random(14)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def _policy_sentences() -> list[str]:
    text = (ROOT / "tests" / "data" / "practice_sentences.txt").read_text(encoding="utf-8")
    text += (ROOT / "tests" / "data" / "benign_sentences.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def test_clause_break_matches_what_the_plain_alternatives_match():
    sentences = CLAUSE_SENTENCES + _policy_sentences() + _random_sentences(20_000)
    breaks = 0
    for sentence in sentences:
        plain = [m.span() for m in CLAUSE_BREAK_PLAIN.finditer(sentence)]
        assert [m.span() for m in CLAUSE_BREAK.finditer(sentence)] == plain, sentence
        breaks += len(plain)
    assert breaks > 500  # the sentences do break (a regex matching nothing would agree too)
    assert clause_starts("We collect it; we may share it but only with you, we sell none") == \
        [15, 50]


def test_clause_break_keeps_a_colon_after_for_and_a_negation():
    assert clause_starts("We do not sell data for: ads") == []
    assert clause_starts("We never: sell data") == []
    assert clause_starts("Data: we sell it") == [6]


def test_cue_words_are_in_every_match_of_their_regex():
    # each alternative of the regexes, matched alone: the quick word check lets it through
    cues = ["have the right to", "has rights to", "exercise your right to", "right to know",
            "opt-out requests", "opt out of", "opting out from", "object to", "objecting to",
            "withdraw your consent", "withdrawing consent", "turn off", "turning off",
            "disable", "disabling", "request that we", "request us to", "ask us not to"]
    for cue in cues:
        for text in (cue, cue.upper(), f"You may {cue.title()} the sale of"):
            assert RIGHTS_CUE.search(text), text
            assert RIGHTS_CUE_WORDS.search(text.lower()), text
    references = ["(see Section 4", "(refer to our notice", "(cf. the", "see section 2",
                  "refer to the heading", "go to Section 6", "see “Interest-Based Ads"]
    for reference in references:
        for text in (reference, reference.upper()):
            assert CROSS_REFERENCE.search(text), text
            assert CROSS_REFERENCE_WORDS.search(text.lower()), text


def test_phrase_context_with_and_without_cue_words():
    sentence = "You have the right to opt out of the sale of your personal information."
    assert phrase_context(sentence, sentence.index("sale")) == "rights"
    sentence = "For details (see Targeted Advertising below) we share data."
    assert phrase_context(sentence, sentence.index("Targeted")) == "reference"
    sentence = "We share your personal information with advertisers."
    assert phrase_context(sentence, sentence.index("advertisers")) is None
    # a letter re folds unlike str.lower() (long s): the regexes decide, not the quick check
    sentence = "You may requeſt that we stop the sale."
    assert not RIGHTS_CUE_WORDS.search(sentence.lower())
    assert phrase_context(sentence, sentence.index("sale")) == "rights"
