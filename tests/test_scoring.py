"""The risk score explains itself: every point comes from a listed finding."""

import json

import pytest

from scanner.scoring import NO_POLICY_POINTS, SEVERITY_POINTS, grade_for, score_target
from scanner.store import open_db
from scanner.targets import Target

TARGET = Target(id="t", name="T", audience="child-directed", homepage="https://t.example/")


@pytest.fixture
def db(tmp_path):
    db = open_db(tmp_path / "s.db")
    db["scans"].insert({"id": 1, "status": "running"})
    return db


def fetch(db, kind="page", status=200, error=None, document_id=None):
    db["fetches"].insert({"scan_id": 1, "target_id": "t", "url": "https://t.example/", "kind": kind,
                          "status": status, "error": error, "document_id": document_id})


def finding(db, rule_id, severity, polarity="risk", source="policy"):
    db["findings"].insert({"scan_id": 1, "target_id": "t", "source": source, "rule_id": rule_id,
                           "category": rule_id.split(".")[0], "severity": severity,
                           "polarity": polarity, "evidence": f"evidence for {rule_id}"})


def test_unreachable_target_has_no_score_and_says_why(db):
    fetch(db, status=None, error="DNS lookup failed")
    row = score_target(db, 1, TARGET)
    assert row["status"] == "unreachable" and row["score"] is None and row["grade"] is None
    assert "DNS lookup failed" in json.loads(row["explanation"])["errors"][0]


def test_http_error_only_is_unreachable(db):
    fetch(db, status=503, error="HTTP 503")
    assert score_target(db, 1, TARGET)["status"] == "unreachable"


def test_each_distinct_risk_rule_counts_once_and_is_explained(db):
    fetch(db)
    fetch(db, kind="policy", document_id=1)
    finding(db, "sale.personal-data", "high")
    finding(db, "sale.personal-data", "high")          # same rule twice: counted once
    finding(db, "collection.contact", "low")
    finding(db, "sale.personal-data.denied", "info", polarity="protective")
    row = score_target(db, 1, TARGET)
    explanation = json.loads(row["explanation"])
    assert row["status"] == "scored"
    assert row["score"] == SEVERITY_POINTS["high"] + SEVERITY_POINTS["low"]
    assert row["score"] == sum(c["points"] for c in explanation["contributions"])
    sale = next(c for c in explanation["contributions"] if c["rule_id"] == "sale.personal-data")
    assert sale["occurrences"] == 2 and sale["evidence"] == "evidence for sale.personal-data"
    assert [p["rule_id"] for p in explanation["protective"]] == ["sale.personal-data.denied"]


def test_missing_policy_adds_points_and_status(db):
    fetch(db)
    row = score_target(db, 1, TARGET)
    assert row["status"] == "no_policy"
    assert row["score"] == NO_POLICY_POINTS
    assert json.loads(row["explanation"])["contributions"][0]["rule_id"] == "policy.missing"


def test_score_is_capped_at_100(db):
    fetch(db)
    fetch(db, kind="policy", document_id=1)
    for i in range(10):
        finding(db, f"tracking.rule{i}", "critical", source="crosscheck")
    assert score_target(db, 1, TARGET)["score"] == 100


@pytest.mark.parametrize("score, grade", [(0, "A"), (10, "A"), (11, "B"), (25, "B"), (45, "C"),
                                          (46, "D"), (65, "D"), (66, "F"), (100, "F")])
def test_grade_bounds(score, grade):
    assert grade_for(score) == grade
