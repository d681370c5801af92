"""A benign corpus guards against false positives: none of these sentences may raise a risk."""

from pathlib import Path

import pytest

from scanner.matching import classify, load_rules

BENIGN = Path(__file__).parent / "data" / "benign_sentences.txt"


def benign_sentences():
    lines = BENIGN.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def test_corpus_is_not_trivial():
    assert len(benign_sentences()) >= 30


@pytest.mark.parametrize("sentence", benign_sentences())
def test_benign_sentence_raises_no_risk(rules, sentence):
    risks = [f.rule_id for f in classify(sentence, rules, lang="en") if f.polarity == "risk"]
    assert risks == [], f"false positive on {sentence!r}: {risks}"
