"""The engine's word cache (scanner.engine.CompiledRules.learn) starts over when full: a sentence
that fills it must still be classified, with the same findings as with a cache that never fills."""

from __future__ import annotations

from scanner import engine
from scanner.matching import classify, load_rules

SENTENCES = [
    "We collect your email address and your precise location when you register.",
    "We may share your personal information with advertising partners for targeted ads.",
    "We collect your email address and share it with our advertising partners.",
]


def rule_ids(findings) -> list[tuple[str, str]]:
    return sorted((f.rule_id, f.evidence) for f in findings)


def test_a_full_word_cache_starts_over_without_losing_the_sentence_words(monkeypatch):
    rules = load_rules()
    expected = [rule_ids(classify(text, rules, lang="en")) for text in SENTENCES]
    assert any(expected), "the sentences must have findings for the comparison to mean anything"
    # A limit of 3 words: every sentence after the first finds the cache full, starts it over and
    # must still look up the words it had seen before (the first and third sentences share words).
    monkeypatch.setattr(engine, "WORD_CACHE_LIMIT", 3)
    engine_rules = load_rules()
    got = [rule_ids(classify(text, engine_rules, lang="en")) for text in SENTENCES * 2]
    assert got == expected * 2
