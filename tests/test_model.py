"""The learned sentence model beside the rules (scanner/model.py): features, the weights file,
where it may suggest a finding (only where the rules have none of the category, never on a
denial, never a sale), and that its suggestions score nothing. A tiny weights file is written
for each test; nothing here needs ../shared or bench/.texts."""

import hashlib
import json
import re
import shutil

import pytest

from reports import render_report
from scanner import rules_record, store
from scanner.matching import classify, load_rules
from scanner.model import (
    MODEL_DIR, RULE_PREFIX, ModelFileError, features, load_model, read_model, tokens)
from scanner.rules_record import describe_finding_rule, model_rule_rows
from scanner.scoring import finding_points

RULES = load_rules()
TAILORED = "Our partners tailor the offers you see to your hobbies and favourite games."


def weights_file(tmp_path, categories=None, lang="en"):
    """A weights file whose behavioural-ads model fires on 'tailor ... offers ... hobbies'."""
    spec = {"behavioral_ads": {"enabled": True, "threshold": 0.5, "bias": -3.0,
                               "weights": {"w:tailor": 2.0, "b:the offers": 1.5, "w:hobbies": 1.0,
                                           "w:weather": -4.0}},
            "children": {"enabled": False, "threshold": 0.5, "bias": 5.0,
                         "weights": {"w:tailor": 2.0}}}
    path = tmp_path / f"{lang}.json"
    path.write_text(json.dumps({"lang": lang, "categories": categories or spec}), encoding="utf-8")
    return path


@pytest.fixture
def tiny(tmp_path):
    return read_model(weights_file(tmp_path))


def model_findings(findings):
    return [f for f in findings if f.rule_id.startswith(RULE_PREFIX)]


def test_features_are_words_word_pairs_heading_words_and_the_rules_that_fired():
    names = features("We don't sell data.", "Your Choices > Ads",
                     [("sale.personal-data.denied", "sale", "protective")])
    assert {"w:we", "w:don", "w:t", "w:sell", "b:we don", "b:sell data", "h:your", "h:ads",
            "r:sale:protective", "rule:sale.personal-data.denied"} <= set(names)
    assert "b:data ads" not in names  # heading words make no pairs with the sentence's
    assert tokens("Tailor-made ADS, 2 times") == ["tailor", "made", "ads", "2", "times"]


def test_read_model_keeps_enabled_categories_and_versions_the_file(tmp_path):
    path = weights_file(tmp_path)
    model = read_model(path)
    assert set(model.categories) == {"behavioral_ads"}
    assert model.version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert set(read_model(path, every=True).categories) == {"behavioral_ads", "children"}
    assert "tailor" in model.triggers and "weather" not in model.triggers


def test_a_sale_model_is_never_read_even_when_a_file_enables_it(tmp_path):
    path = weights_file(tmp_path, {"sale": {"enabled": True, "threshold": 0.1, "bias": 9.0,
                                            "weights": {}}})
    assert read_model(path, every=True).categories == {}
    assert load_model("en", tmp_path) is None  # a file that enables nothing is no model


def test_a_broken_weights_file_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "en.json"
    path.write_text('{"lang": "en", "categories": {"collection": {"enabled": true}}}')
    with pytest.raises(ModelFileError, match=re.escape(str(path))):
        read_model(path)
    path.write_text("not json")
    with pytest.raises(ModelFileError, match=re.escape(str(path))):
        read_model(path)


def test_the_model_suggests_what_no_rule_found_with_no_points(tiny):
    assert classify(TAILORED, RULES, lang="en") == []  # no rule reads this sentence
    (found,) = model_findings(classify(TAILORED, RULES, lang="en", model=tiny))
    assert found.rule_id == "model.behavioral_ads" and found.category == "behavioral_ads"
    assert (found.polarity, found.severity, found.data_types) == ("risk", "info", [])
    assert found.evidence == TAILORED and (found.start, found.end) == (0, len(TAILORED))
    # the explanation names the heaviest features, heaviest first; the matched phrase is the first
    assert found.practice.startswith("suggested by the statistical model (p=0.")
    assert found.practice.index("'tailor'") < found.practice.index("'the offers'")
    assert TAILORED[found.match_start:found.match_end] == "tailor"
    assert finding_points({"category": "behavioral_ads", "severity": found.severity,
                           "data_types": "[]", "rule_id": found.rule_id,
                           "source": "policy"}, child_directed=True)[0] == 0


def test_each_sentence_of_a_text_is_judged_on_its_own(tiny):
    text = f"The weather in the valley is often sunny. {TAILORED} Tailor offers."
    found = model_findings(classify(text, RULES, lang="en", model=tiny))
    assert [f.evidence for f in found] == [TAILORED]  # a short fragment is not scored


def test_below_the_threshold_or_without_a_trigger_word_nothing_is_suggested(tiny, monkeypatch):
    tiny.categories["behavioral_ads"].threshold = 0.99
    assert model_findings(classify(TAILORED, RULES, lang="en", model=tiny)) == []
    tiny.categories["behavioral_ads"].threshold = 0.5
    monkeypatch.setattr(tiny, "triggers", frozenset({"weather"}))
    assert model_findings(classify(TAILORED, RULES, lang="en", model=tiny)) == []


def test_no_suggestion_where_the_rules_have_a_finding_of_the_category(tiny):
    tiny.categories["behavioral_ads"].bias = 5.0  # the model would say yes to anything
    stated = "We use your browsing history to show you targeted advertising, tailored offers."
    denied = "We do not show targeted advertising based on your hobbies; we tailor nothing."
    for sentence in (stated, denied):
        findings = classify(sentence, RULES, lang="en", model=tiny)
        assert any(f.category == "behavioral_ads" and not f.rule_id.startswith(RULE_PREFIX)
                   for f in findings)
        assert model_findings(findings) == []


def test_never_on_a_denial_the_negation_governs_the_strongest_phrase(tiny):
    denied = TAILORED.replace("partners tailor", "partners never tailor")
    assert classify(denied, RULES, lang="en") == []
    assert model_findings(classify(denied, RULES, lang="en", model=tiny)) == []
    # an earlier clause's negation does not deny it
    later = "We do not rent boats, but " + TAILORED[0].lower() + TAILORED[1:]
    assert len(model_findings(classify(later, RULES, lang="en", model=tiny))) == 1


def test_the_rules_findings_are_unchanged_by_the_model(tiny):
    text = ("We share your email address with advertisers. " + TAILORED
            + " We never sell your personal information.")
    alone = classify(text, RULES, lang="en")
    both = classify(text, RULES, lang="en", model=tiny)
    assert [f for f in both if not f.rule_id.startswith(RULE_PREFIX)] == alone
    assert [f.start for f in both] == sorted(f.start for f in both)


def test_rules_record_describes_a_model_finding_as_the_models(tmp_path, monkeypatch):
    described = describe_finding_rule("model.third_party_sharing", "third_party_sharing",
                                      "risk", {})
    assert described["description"].startswith("Suggested by the statistical model, not by a rule")
    assert "shares personal data with other companies" in described["description"]
    path = weights_file(tmp_path)
    monkeypatch.setattr(rules_record, "load_model",
                        lambda lang: read_model(path) if lang == "en" else None)
    (row,) = model_rule_rows()
    assert row["id"] == "model.behavioral_ads" and row["kind"] == "model"
    assert row["severity"] == "info" and row["source_file"] == "rules/model/en.json"
    assert row["version"] == read_model(path).version


def test_the_committed_weights_file_holds_weights_and_provenance_no_text():
    data = json.loads((MODEL_DIR / "en.json").read_text(encoding="utf-8"))
    assert data["lang"] == "en" and data["trained_on"]
    for source in data["trained_on"]:
        assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"]) and source["records"] > 0
    for category, spec in data["categories"].items():
        assert category != "sale"
        assert {"rules", "rules_and_model"} <= set(spec["cv"])
        for name in spec["weights"]:
            kind, _, value = name.partition(":")
            assert kind in ("w", "b", "h", "r", "rule"), name
            assert len(value.split(" ")) <= 2, name  # a word or a word pair, never a sentence


def test_a_report_marks_a_model_finding_as_the_models_with_its_features(demo_scan_db, tmp_path):
    db_path = tmp_path / "model.db"
    shutil.copy(demo_scan_db, db_path)
    db = store.open_db(db_path)
    finding_id = db.execute("SELECT id FROM findings WHERE target_id = 'pixel-pals' AND "
                            "source = 'policy' LIMIT 1").fetchone()[0]
    fetch_id, n = store.policy_finding_fetch(finding_id)
    db.execute("""UPDATE document_findings SET rule_id = 'model.third_party_sharing',
                  category = 'third_party_sharing', severity = 'info', polarity = 'risk',
                  practice = ? WHERE n = ? AND (document_id, findings_version) =
                  (SELECT document_id, findings_version FROM fetches WHERE id = ?)""",
               ["suggested by the statistical model (p=0.81; 'partners' +1.20)", n, fetch_id])
    db.conn.commit()
    scan_id = store.latest_scan_id(db)
    data = json.loads(render_report(db, scan_id, "json"))
    (found,) = [f for t in data["targets"] for f in t["findings"]
                if f["rule_id"] == "model.third_party_sharing"]
    assert found["suggested_by_model"] is True and not found["rule_points"]
    assert found["rule_description"].startswith("Suggested by the statistical model, not by a rule")
    assert found["rule_description"].endswith(
        "Model score and heaviest features: p=0.81; 'partners' +1.20.")
    assert "Suggested by the statistical model" in render_report(db, scan_id, "md")


def test_the_quick_score_is_the_score_of_the_feature_names(tiny):
    ads = tiny.categories["behavioral_ads"]
    ads.weights.update({"h:choices": 0.7, "r:collection:risk": -0.4, "b:you see": 0.3,
                        "rule:collection.first-party": 0.2})
    ads.__post_init__()
    fired = [("collection.first-party", "collection", "risk")]
    for sentence in (TAILORED, TAILORED + " You see the offers, you see.", "Nothing here at all."):
        words = tokens(sentence)
        names = features(sentence, "Your choices", fired)
        others = {n for n in names if not n.startswith(("w:", "b:"))}
        quick = ads.quick_score(set(words), set(zip(words, words[1:], strict=False)), others)
        assert quick == pytest.approx(ads.score(names), abs=1e-12)
