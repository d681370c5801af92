"""Rules and score explanations are stored once by content (m012): an unchanged re-scan adds a
reference, not a copy; `rules` and `scores` read as before, databases made before m012 too."""

from __future__ import annotations

import json
from types import SimpleNamespace

from test_storage_dedup import scan_policy

from scanner import rules_record, store
from scanner.scoring import load_explanation, score_target, store_scores

KIDS = SimpleNamespace(id="kids", child_directed=True)
TOTS = SimpleNamespace(id="tots", child_directed=True)


def tracker_finding(db, scan_id: int, target_id: str) -> None:
    db["scan_findings"].insert({
        "scan_id": scan_id, "target_id": target_id, "source": "tracker",
        "rule_id": "curated:doubleclick", "category": "behavioral_ads", "severity": "high",
        "polarity": "risk", "evidence": "script https://ad.doubleclick.net/x.js on /",
        "url": f"https://{target_id}.example/"})


def scan_and_score(db_path, targets=(KIDS, TOTS), **policy) -> tuple[int, dict]:
    """One scan of the targets (each the same policy and one tracker), scored and stored;
    returns its id and {target id: the explanation score_target made}."""
    scan_id = scan_policy(db_path, targets=[t.id for t in targets], **policy)
    db = store.open_db(db_path)
    for target in targets:
        db["targets"].upsert({"id": target.id, "name": target.id.title()}, pk="id")
        tracker_finding(db, scan_id, target.id)
    rows = [score_target(db, scan_id, target) for target in targets]
    with db.conn:
        store_scores(db, rows)
    db.close()
    return scan_id, {row["target_id"]: json.loads(row["explanation"]) for row in rows}


def finding_ids(db, scan_id: int, target_id: str) -> set[int]:
    return {r[0] for r in db.execute("SELECT id FROM findings WHERE scan_id = ? AND target_id = ?",
                                     [scan_id, target_id])}


def named_ids(explanation: dict) -> set[int]:
    return {i for c in explanation["contributions"] for i in c["finding_ids"]}


def test_an_unchanged_rescan_stores_one_explanation_per_outcome(tmp_path):
    path = tmp_path / "s.db"
    first, made_first = scan_and_score(path)
    second, made_second = scan_and_score(path)
    db = store.open_db(path)
    # two targets alike, scanned twice: one explanation, four scores naming it
    assert db["explanations"].count == 1
    assert db["scan_scores"].count == 4
    assert len({r[0] for r in db.execute("SELECT explanation_sha256 FROM scan_scores")}) == 1
    (stored,) = [r[0] for r in db.execute("SELECT explanation FROM explanations")]
    assert "finding_ids" not in stored and '"fact"' in stored
    for scan_id, made in ((first, made_first), (second, made_second)):
        for target_id in ("kids", "tots"):
            loaded = load_explanation(db, scan_id, target_id)
            assert loaded == made[target_id]  # the finding ids of that very scan and target
            assert named_ids(loaded) and named_ids(loaded) <= finding_ids(db, scan_id, target_id)
    assert not named_ids(load_explanation(db, second, "kids")) & finding_ids(db, first, "kids")


def test_scores_still_read_with_sql_as_before(tmp_path):
    path = tmp_path / "s.db"
    scan_id, made = scan_and_score(path)
    db = store.open_db(path)
    row = db.execute("SELECT score, grade, status, explanation FROM scores WHERE scan_id = ? "
                     "AND target_id = 'kids'", [scan_id]).fetchone()
    assert row[0] == made["kids"]["score"] and row[2] == "scored"
    stored = json.loads(row[3])
    assert [(c["rule_id"], c["points"]) for c in stored["contributions"]] \
        == [(c["rule_id"], c["points"]) for c in made["kids"]["contributions"]]
    risks = db.execute("SELECT COUNT(*) FROM findings WHERE scan_id = ? AND target_id = 'kids' "
                       "AND polarity = 'risk'", [scan_id]).fetchone()[0]
    assert db.execute("SELECT score, risk_findings FROM target_risk WHERE target_id = 'kids'"
                      ).fetchone() == (made["kids"]["score"], risks)


def test_a_changed_outcome_adds_one_explanation(tmp_path):
    path = tmp_path / "s.db"
    scan_and_score(path)
    scan_id, made = scan_and_score(path, text="We may sell your personal information.")
    db = store.open_db(path)
    assert db["explanations"].count == 2
    assert load_explanation(db, scan_id, "tots") == made["tots"]


def test_two_scans_with_the_same_rules_store_one_rule_set(tmp_path, monkeypatch):
    db = store.open_db(tmp_path / "r.db")
    scans = [store.start_scan(db, rules_version="v", targets_file="t.yaml", options={})
             for _ in range(3)]
    count = rules_record.record_rules(db, scans[0])
    rules_record.record_rules(db, scans[1])
    assert db["rule_sets"].count == 1 and db["rule_records"].count == count
    rows = [sorted(tuple(r.values())[1:] for r in db.query(
        "SELECT * FROM rules WHERE scan_id = ?", [scan])) for scan in scans[:2]]
    assert len(rows[0]) == count and rows[0] == rows[1]
    # one rule changed: only it is stored again (and the new set that names it)
    changed = "policy.missing"
    original = rules_record.code_rule_rows

    def code_rule_rows():
        return [{**row, "description": "No policy."} if row["id"] == changed else row
                for row in original()]

    monkeypatch.setattr(rules_record, "code_rule_rows", code_rule_rows)
    rules_record.record_rules(db, scans[2])
    assert db["rule_records"].count == count + 1 and db["rule_sets"].count == 2
    described = {scan: db.execute("SELECT description FROM rules WHERE scan_id = ? AND id = ?",
                                  [scan, changed]).fetchone()[0] for scan in (scans[0], scans[2])}
    assert described[scans[2]] == "No policy." != described[scans[0]]
    recorded = {scan: rules_record.recorded_rules(db, scan)[changed] for scan in scans}
    assert recorded[scans[2]]["description"] == "No policy."
    assert recorded[scans[0]]["description"] == described[scans[0]] != "No policy."
    assert recorded[scans[0]]["version"] is not None


def test_a_database_made_before_m012_reads_its_rules_and_explanations(tmp_path):
    path = tmp_path / "old.db"
    db = store.sqlite_utils.Database(path)
    store.migrations.apply(db, stop_before="m012_rules_and_explanations_once")
    rules = rules_record.code_rule_rows()[:5]
    explanation = json.dumps({"score": 12, "contributions": [
        {"rule_id": "curated:doubleclick", "points": 12, "finding_ids": [7, 9]}]})
    for scan_id in (1, 2):
        store.start_scan(db, rules_version="old", targets_file="t.yaml", options={})
        db["rules"].insert_all([{"scan_id": scan_id, **row} for row in rules])
        db["scores"].insert({"scan_id": scan_id, "target_id": "kids", "score": 12, "grade": "B",
                             "status": "scored", "explanation": explanation})
    before = [dict(r) for r in db.query("SELECT * FROM rules ORDER BY scan_id, id")]
    db.close()
    db = store.open_db(path)
    assert "rules" in db.view_names() and "scores" in db.view_names()
    assert [dict(r) for r in db.query("SELECT * FROM rules ORDER BY scan_id, id")] == before
    assert db["rule_sets"].count == 1 and db["rule_records"].count == len(rules)
    assert db["explanations"].count == 1
    for scan_id in (1, 2):
        (text,) = db.execute("SELECT explanation FROM scores WHERE scan_id = ?",
                             [scan_id]).fetchone()
        assert text == explanation  # kept as written, its finding ids included
        assert load_explanation(db, scan_id, "kids") == json.loads(explanation)


def test_a_merged_shard_keeps_its_explanations_and_names_the_merged_findings(tmp_path):
    from helpers import invoke

    shard = tmp_path / "shard.db"
    scan_id, _ = scan_and_score(shard)
    db = store.open_db(shard)
    store.finish_scan(db, scan_id)
    db["scan_targets"].insert_all([{"scan_id": scan_id, "target_id": t, "status": "done"}
                                   for t in ("kids", "tots")])
    stored = [r[0] for r in db.execute("SELECT explanation FROM explanations")]
    db.close()
    out = tmp_path / "merged.db"
    result = invoke("merge", out, shard)
    assert result.exit_code == 0, result.output
    merged = store.open_db(out)
    assert [r[0] for r in merged.execute("SELECT explanation FROM explanations")] == stored
    for target_id in ("kids", "tots"):
        named = named_ids(load_explanation(merged, 1, target_id))
        assert named and named <= finding_ids(merged, 1, target_id)
