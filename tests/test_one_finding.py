"""One sentence, one risk finding per category (engine.one_per_category): the most specific rule
stands, the data types are merged, the other rule ids are kept in `also`, and a sentence scores
as it did when every rule gave a finding of its own."""

from dataclasses import asdict
from pathlib import Path

import pytest

from scanner import engine
from scanner.matching import classify, load_rules
from scanner.scoring import finding_points

RULES = load_rules()
DATA = Path(__file__).parent / "data"


@pytest.fixture
def unmerged(monkeypatch):
    """classify as it was: one finding per rule that fires."""
    def classify_unmerged(text, lang="en"):
        with monkeypatch.context() as patch:
            patch.setattr(engine, "one_per_category", lambda findings, rules=(): findings)
            return classify(text, RULES, lang=lang)
    return classify_unmerged


def risks(findings):
    return [f for f in findings if f.polarity == "risk"]


def test_a_list_of_data_types_is_one_collection_finding_with_all_of_them(unmerged):
    sentence = ("We collect your name, email address, precise GPS location, photos and voice "
                "recordings when you create an account.")
    before = risks(unmerged(sentence))
    assert len([f for f in before if f.category == "collection"]) >= 4
    (after,) = risks(classify(sentence, RULES, lang="en"))
    assert after.category == "collection" and after.severity == "high"
    assert {"precise_location", "audio_video", "photos", "contact"} <= set(after.data_types)
    assert len(after.data_types) == len(set(after.data_types))
    assert {after.rule_id, *after.also} == {f.rule_id for f in before if f.category == "collection"}
    assert after.rule_id not in after.also


def test_the_named_recipient_wins_over_the_generic_rule():
    sentence = "We may share your personal information with advertisers, service providers and our affiliates."
    (finding,) = risks(classify(sentence, RULES, lang="en"))
    assert finding.rule_id == "third_party_sharing.advertisers"
    assert {"third_party_sharing.service-providers", "third_party_sharing.affiliates",
            "third_party_sharing.disclosure"} <= set(finding.also)
    (contact,) = risks(classify("We collect your e-mail address.", RULES, lang="en"))
    assert contact.rule_id == "collection.contact" and contact.also == ("collection.first-party",)
    assert contact.data_types == ["contact", "personal_data"]


def test_denials_are_not_merged_the_cross_checks_read_them_by_rule_id():
    sentence = "We do not show ads, and we never use interest-based advertising."
    ids = {f.rule_id for f in classify(sentence, RULES, lang="en") if f.polarity == "protective"}
    assert {"behavioral_ads.ad-serving.denied", "behavioral_ads.interest-based.denied"} <= ids


def corpus():
    sentences = [s for r in RULES for s in r.examples["match"]]
    for name in ("benign_sentences.txt", "benign_sentences_th.txt"):
        lines = (DATA / name).read_text(encoding="utf-8").splitlines()
        sentences += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    lines = (DATA / "practice_sentences.txt").read_text(encoding="utf-8").splitlines()
    sentences += [line.split("\t", 1)[1] for line in lines if "\t" in line and not line.startswith("#")]
    return sentences


def top_points(findings, child_directed: bool) -> int:
    return max((finding_points(asdict(f), child_directed)[0] for f in findings), default=0)


def test_a_sentence_scores_and_counts_as_before(unmerged):
    """Per sentence: the same risk categories, one risk finding each (a collection finding
    without data types apart), all rule ids kept, and the same points of its
    top finding (scoring counts a sentence as one fact worth its highest finding) for a
    child-directed and a general audience."""
    changed = 0
    for sentence in corpus():
        lang = "th" if any("\u0e00" <= c <= "\u0e7f" for c in sentence) else "en"
        before, after = risks(unmerged(sentence, lang)), risks(classify(sentence, RULES, lang=lang))
        changed += len(before) != len(after)
        # one per category, but for a collection finding without data types (scored by severity)
        keys = [(f.category, f.category == "collection" and not f.data_types) for f in after]
        assert len(keys) == len(set(keys)), sentence
        assert {f.category for f in after} == {f.category for f in before}, sentence
        assert {r for f in after for r in (f.rule_id, *f.also)} == {f.rule_id for f in before}, sentence
        for child_directed in (True, False):
            assert top_points(after, child_directed) == top_points(before, child_directed), \
                (sentence, child_directed)
    assert changed >= 20  # the corpus does hold sentences that several rules of a category fire on
