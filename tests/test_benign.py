"""A benign corpus guards against false positives: none of these sentences may raise a risk; and
its counterpart, sentences that state a practice, each of which must raise a risk of its category."""

from pathlib import Path

import pytest

from scanner.matching import classify, load_rules

BENIGN = Path(__file__).parent / "data" / "benign_sentences.txt"
PRACTICES = Path(__file__).parent / "data" / "practice_sentences.txt"


def benign_sentences():
    lines = BENIGN.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def practice_sentences():
    lines = PRACTICES.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def test_corpus_is_not_trivial():
    assert len(benign_sentences()) >= 30


@pytest.mark.parametrize("sentence", benign_sentences())
def test_benign_sentence_raises_no_risk(rules, sentence):
    risks = [f.rule_id for f in classify(sentence, rules, lang="en") if f.polarity == "risk"]
    assert risks == [], f"false positive on {sentence!r}: {risks}"


def test_practice_corpus_is_read():
    pairs = practice_sentences()
    assert len(pairs) >= 5 and all(len(pair) == 2 for pair in pairs)
    assert not set(sentence for _, sentence in pairs) & set(benign_sentences())


@pytest.mark.parametrize(("category", "sentence"), practice_sentences())
def test_practice_sentence_raises_a_risk_of_its_category(rules, category, sentence):
    risks = {f.category for f in classify(sentence, rules, lang="en") if f.polarity == "risk"}
    assert category in risks, f"no {category} risk on {sentence!r}: {sorted(risks)}"
