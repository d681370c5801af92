"""The policy rules: every rule's own examples, the schema's error messages, denials, offsets."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from scanner.cli import cli
from scanner.matching import (RuleError, classify, find_match, load_rule_file, load_rules,
                              match_sentence)

RULE_OK = """\
rules:
  - id: sale.test-rule
    category: sale
    severity: high
    polarity: risk
    status: experimental
    patterns: ['\\bsell\\b']
    unless: ['{NEG}\\s+{LIST}sell']
    examples:
      match: ["We sell data.", "They sell it."]
      no_match: ["We do not sell data.", "We never sell it."]
    references: ["CCPA 1798.120"]
"""

ALL_RULES = load_rules(include_deprecated=True)


def example_cases():
    for rule in ALL_RULES:
        for sentence in rule.examples["match"]:
            yield pytest.param(rule, sentence, "hit", id=f"{rule.id}-match-{sentence[:30]}")
        for sentence in rule.examples["no_match"]:
            yield pytest.param(rule, sentence, "no_match", id=f"{rule.id}-no_match-{sentence[:30]}")


@pytest.mark.parametrize("rule, sentence, expected", list(example_cases()))
def test_rule_examples(rule, sentence, expected):
    outcome = match_sentence(rule, sentence)
    if expected == "hit":
        assert outcome == "hit"
    else:
        assert outcome != "hit"


def test_every_risk_rule_lists_a_denial_among_no_match():
    negation = ("not", "never", "don't", "no ", "won't")
    for rule in ALL_RULES:
        if rule.polarity == "risk" and rule.lang == "en":
            assert any(any(n in s.lower() for n in negation) for s in rule.examples["no_match"]), rule.id


def test_rule_set_covers_the_taxonomy():
    en = [r for r in ALL_RULES if r.lang == "en"]
    assert {r.category for r in en} >= {"collection", "third_party_sharing", "sale", "behavioral_ads",
                                         "tracking", "children", "user_rights", "retention", "transfer"}
    data_types = {t for r in en for t in r.data_types}
    assert data_types >= {"contact", "identifiers", "precise_location", "coarse_location", "age", "photos",
                          "audio_video", "contacts", "education", "biometrics", "health"}
    assert all(r.references and r.status in ("experimental", "stable") for r in en)


def write_rule(tmp_path, text, name="sale.yaml"):
    folder = tmp_path / "en"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, field", [
    ("    status: experimental\n", "    status: experimental\n    colour: red\n", "colour: unknown key"),
    ("severity: high", "severity: huge", "severity: 'huge' unknown"),
    ("category: sale", "category: selling", "category: 'selling' unknown"),
    ("polarity: risk", "polarity: bad", "polarity: 'bad' unknown"),
    ("status: experimental", "status: beta", "status: 'beta' unknown"),
    ("patterns: ['\\bsell\\b']", "patterns: ['(sell']", "patterns[0]: bad regex"),
    ("patterns: ['\\bsell\\b']", "patterns: '\\bsell'", "patterns: expected a list"),
    ('      no_match: ["We do not sell data.", "We never sell it."]\n', "", "examples.no_match: needs at least 2"),
    ('    references: ["CCPA 1798.120"]\n', "", "references: missing"),
])
def test_schema_errors_name_file_rule_and_field(tmp_path, old, new, field):
    assert old in RULE_OK
    path = write_rule(tmp_path, RULE_OK.replace(old, new))
    with pytest.raises(RuleError) as error:
        load_rule_file(path)
    message = str(error.value)
    assert str(path) in message and "sale.test-rule" in message and field in message
    assert "\n" not in message


def test_rules_check_cli_reports_the_broken_file(tmp_path):
    good = write_rule(tmp_path, RULE_OK, "good.yaml")
    bad = write_rule(tmp_path, RULE_OK.replace("severity: high", "severity: huge"), "bad.yaml")
    runner = CliRunner()
    ok = runner.invoke(cli, ["rules", "check", str(good)])
    assert ok.exit_code == 0 and "1 rules OK" in ok.output
    failed = runner.invoke(cli, ["rules", "check", str(bad)])
    assert failed.exit_code != 0
    assert f"{bad}: rule sale.test-rule: severity" in failed.output


def test_rules_check_cli_runs_examples(tmp_path):
    broken = RULE_OK.replace('match: ["We sell data."', 'match: ["We buy data."')
    result = CliRunner().invoke(cli, ["rules", "check", str(write_rule(tmp_path, broken))])
    assert result.exit_code != 0
    assert "examples.match: does not match: 'We buy data.'" in result.output


def test_whole_rule_set_checks_clean():
    result = CliRunner().invoke(cli, ["rules", "check"])
    assert result.exit_code == 0, result.output
    assert "rules OK" in result.output


RULES = load_rules()


@pytest.mark.parametrize("sentence, category", [
    ("We do not sell your personal information.", "sale"),
    ("We do not sell, rent or trade personal information.", "sale"),
    ("We never show targeted ads to children.", "behavioral_ads"),
    ("We do not share your information with data brokers.", "third_party_sharing"),
    ("We do not collect precise geolocation data.", "collection"),
])
def test_denial_is_protective_of_the_same_category(sentence, category):
    findings = [f for f in classify(sentence, RULES, lang="en") if f.category == category]
    assert findings, "a denial still discusses the topic"
    assert all(f.polarity != "risk" for f in findings)
    assert any(f.polarity == "protective" and f.rule_id.endswith(".denied") for f in findings)


def test_practice_statement_is_a_risk():
    findings = classify("We may sell your personal information to data brokers.", RULES, lang="en")
    assert {"sale.personal-data", "third_party_sharing.data-brokers"} <= {
        f.rule_id for f in findings if f.polarity == "risk"}


def test_offsets_point_at_the_sentence_and_the_match():
    text = ("Privacy Policy\n\nWe love games. We may sell your personal information to partners. "
            "Contact us.")
    findings = [f for f in classify(text, RULES, lang="en") if f.rule_id == "sale.personal-data"]
    assert len(findings) == 1
    f = findings[0]
    assert text[f.start:f.end] == f.evidence == "We may sell your personal information to partners."
    assert text[f.match_start:f.match_end].lower().startswith("sell")
    assert f.start <= f.match_start < f.match_end <= f.end


def test_proximity_needs_both_terms_within_the_window(tmp_path):
    path = write_rule(tmp_path, RULE_OK.replace(
        "    patterns: ['\\bsell\\b']\n",
        "    near:\n      - terms: ['\\bsell\\b', '\\bdata\\b']\n        within: 3\n"))
    rule = load_rule_file(path)[0]
    assert find_match(rule, "We sell the data.") is not None
    assert find_match(rule, "Data is what we sell.") is not None  # either order
    assert find_match(rule, "We sell toys, games, books, puzzles and also keep data.") is None
    assert match_sentence(rule, "We sell data.") == "hit"


def test_prefilter_never_hides_a_match():
    """classify (with the key prefilter) finds what trying every rule on every sentence finds."""
    sentences = [s for r in RULES if r.lang == "en" for s in r.examples["match"] + r.examples["no_match"]]
    for sentence in sentences:
        fast = {(f.rule_id, f.polarity) for f in classify(sentence, RULES, lang="en")}
        slow = set()
        for rule in (r for r in RULES if r.lang == "en"):
            outcome = match_sentence(rule, sentence)
            if outcome == "hit":
                slow.add((rule.id, rule.polarity))
            elif outcome == "denied" and rule.polarity == "risk":
                slow.add((rule.id + ".denied", "protective"))
        assert fast == slow, sentence


def test_thai_rules_match_the_token_form():
    thai = [r for r in RULES if r.lang == "th"]
    if not thai:
        pytest.skip("no Thai rules in this checkout")
    rule = thai[0]
    sentence = rule.examples["match"][0]
    assert match_sentence(rule, sentence) == "hit"
    findings = classify(sentence, RULES, lang="th")
    assert any(f.rule_id == rule.id for f in findings)
    assert all(f.evidence == sentence for f in findings)
