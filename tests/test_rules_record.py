"""The `rules` table: every rule a scan judged with, and each finding shown with its rule's
plain-language description and legal references in every report format."""

import csv
import io
import json
import re

import pytest
import sqlite_utils
from markupsafe import escape

from helpers import ROOT, invoke
from reports import render_report
from reports.escape import md_text
from scanner.matching import load_rules
from scanner.rule_schema import (file_description_problem, generated_description, parse_rule,
                                 rule_files)
from scanner.rules_record import describe_finding_rule, split_suffix

RAW_RULE = {
    "id": "sale.example-rule", "category": "sale", "severity": "high", "polarity": "risk",
    "status": "experimental", "patterns": [r"\bsell {DATA_NOUN}\b"],
    "examples": {"match": ["We sell personal data.", "They sell your data."],
                 "no_match": ["We do not sell.", "Nothing."]},
    "references": ["CCPA 1798.120"],
}


@pytest.fixture(scope="module")
def recorded(demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    scan_id = max(r["id"] for r in db["scans"].rows)
    return db, scan_id, {r["id"]: r for r in db["rules"].rows_where("scan_id = ?", [scan_id])}


def test_every_policy_rule_file_says_what_its_rules_look_for():
    files = rule_files()
    assert len(files) >= 18
    assert [str(p) for p in files if file_description_problem(p)] == []


def test_rules_check_fails_on_a_rule_file_without_a_description(tmp_path):
    source = ROOT / "rules" / "policy" / "en" / "retention.yaml"
    text = source.read_text(encoding="utf-8")
    assert re.search(r"^description: ", text, re.M)
    (tmp_path / "en").mkdir()
    bare = tmp_path / "en" / "retention.yaml"
    bare.write_text(re.sub(r"^description: .*\n", "", text, flags=re.M), encoding="utf-8")
    result = invoke("rules", "check", bare)
    assert result.exit_code != 0
    assert f"{bare}: description: missing" in result.output
    ok = invoke("rules", "check", source)
    assert ok.exit_code == 0, ok.output


def test_a_scan_records_every_policy_rule_as_it_was(recorded):
    _, _, rows = recorded
    rules = load_rules(include_deprecated=True)
    policy = {rid: row for rid, row in rows.items() if row["kind"] == "policy"}
    assert set(policy) == {r.id for r in rules}
    for rule in rules:
        row = policy[rule.id]
        assert row["version"] == rule.version and len(rule.version) == 12
        assert json.loads(row["references"]) == rule.references and rule.references
        assert row["description"] == rule.plain_description and row["description"]
        assert (row["category"], row["severity"], row["status"]) == (
            rule.category, rule.severity, rule.status)
        assert row["source_file"].startswith("rules/policy/") and row["file_description"]


def test_every_finding_of_the_scan_has_its_rule_recorded(recorded):
    db, scan_id, rows = recorded
    kinds = {row["kind"] for row in rows.values()}
    assert {"policy", "tracker", "sdk", "code"} <= kinds
    missing = []
    for rule_id, source in db.execute("SELECT DISTINCT rule_id, source FROM findings "
                                      "WHERE scan_id = ?", [scan_id]):
        base, _ = split_suffix(rule_id)
        if rule_id not in rows and base not in rows and not rule_id.startswith("abp:"):
            missing.append((source, rule_id))
    assert missing == []
    assert any(f.startswith("curated:") for f in rows) and any(f.startswith("app.sdk.") for f in rows)


def test_rule_version_follows_its_definition(tmp_path):
    path = tmp_path / "sale.yaml"
    first = parse_rule(dict(RAW_RULE), path, "en")
    again = parse_rule(dict(RAW_RULE), path, "en")
    changed = parse_rule({**RAW_RULE, "severity": "critical"}, path, "en")
    assert first.version == again.version != changed.version


def test_a_rule_without_description_gets_one_from_its_id(tmp_path):
    rule = parse_rule(dict(RAW_RULE), tmp_path / "sale.yaml", "en")
    assert rule.description == ""
    assert rule.plain_description == "The policy says the service sells or rents personal data " \
                                     "(example rule)."
    described = parse_rule({**RAW_RULE, "description": "Selling data."}, tmp_path / "s.yaml", "en")
    assert described.plain_description == "Selling data."
    denied = generated_description("sale.example-rule.denied", "sale", "protective")
    assert denied.startswith("The policy denies that the service sells")


def test_a_suffixed_finding_is_explained_by_its_base_rule(recorded):
    _, _, rows = recorded
    base = rows["sale.personal-data"]
    denied = describe_finding_rule("sale.personal-data.denied", "sale", "protective", rows)
    assert denied["description"].startswith("The policy denies this: ")
    assert denied["references"] == json.loads(base["references"]) and denied["recorded"]
    unknown = describe_finding_rule("abp:||ads.example^", "advertising", "risk", rows)
    assert unknown["description"] and unknown["references"] == [] and not unknown["recorded"]


def test_every_finding_shows_its_rule_in_every_report_format(recorded, demo_scan_db):
    db, scan_id, rows = recorded
    data = json.loads(render_report(db, scan_id, "json"))
    findings = [(t["id"], f) for t in data["targets"] for f in t["findings"]]
    assert findings and all(f["rule_description"] for _, f in findings)
    policy = [(tid, f) for tid, f in findings if f["source"] == "policy"]
    for _, f in policy:
        base, _ = split_suffix(f["rule_id"])
        assert f["legal_references"] == json.loads(rows[base]["references"]), f["rule_id"]
        assert f["rule_version"] == rows[base]["version"]

    table = list(csv.DictReader(io.StringIO(render_report(db, scan_id, "csv").lstrip("\ufeff"))))
    with_rule = [r for r in table if r["rule_id"]]
    assert len(with_rule) == len(findings) and all(r["rule_description"] for r in with_rule)
    for row in with_rule:
        if row["source"] == "policy":
            base, _ = split_suffix(row["rule_id"])
            assert row["legal_references"] == "; ".join(json.loads(rows[base]["references"]))

    html = render_report(db, scan_id, "html")
    markdown = render_report(db, scan_id, "md")
    for target_id, f in findings:
        start = html.index(f'<section class="target" id="target-{target_id}">')
        section = html[start:html.index("</section>", start)]
        assert str(escape(f["rule_description"])) in section, f["rule_id"]
        for reference in f["legal_references"]:
            assert str(escape(reference)) in section
        assert md_text(f["rule_description"]) in markdown, f["rule_id"]
        if f["legal_references"]:
            assert md_text("; ".join(f["legal_references"])) in markdown


def test_a_scan_made_before_rules_were_recorded_is_described_with_todays_rules(demo_scan_db,
                                                                                tmp_path):
    import sqlite3

    copy = tmp_path / "old.db"
    with sqlite3.connect(demo_scan_db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        target.execute("UPDATE scans SET rule_set = NULL")  # no rules recorded
    db = sqlite_utils.Database(copy)
    scan_id = max(r["id"] for r in db["scans"].rows)
    rules = {r.id: r for r in load_rules(include_deprecated=True)}
    data = json.loads(render_report(db, scan_id, "json"))
    policy = [f for t in data["targets"] for f in t["findings"] if f["source"] == "policy"]
    assert policy
    for f in policy:
        base, _ = split_suffix(f["rule_id"])
        assert f["legal_references"] == rules[base].references
        assert f["rule_version"] is None  # not claimed: today's rules may not be the scan's
