"""`scanner status` and `scanner history` on databases built row by row, and on a real scan."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from helpers import invoke
from scanner import store
from scanner.lock import ScanLock, lock_path
from scanner.scoring import store_scores


def add_scan(db, scan_id, status, started, finished=None, crawl=None, scores=None, findings=()):
    """One scans row with its scan_targets, scores and findings rows (only the columns read)."""
    db["scans"].insert({"id": scan_id, "started_at": started, "finished_at": finished,
                        "status": status, "options": "{}"})
    for target_id, crawl_status in (crawl or {}).items():
        db["scan_targets"].insert({"scan_id": scan_id, "target_id": target_id,
                                   "status": crawl_status})
    for target_id, (score, grade, score_status) in (scores or {}).items():
        with db.conn:
            store_scores(db, [{"scan_id": scan_id, "target_id": target_id, "score": score,
                               "grade": grade, "status": score_status, "explanation": "{}"}])
    for target_id, rule_id, severity, polarity, evidence in findings:
        db["scan_findings"].insert({"scan_id": scan_id, "target_id": target_id, "source": "policy",
                                    "rule_id": rule_id, "category": rule_id.split(".")[0],
                                    "severity": severity, "polarity": polarity,
                                    "evidence": evidence})


SALE = ("abc", "sale.personal-data", "high", "risk", "We may sell your personal information.")
CONTACT = ("abc", "collection.contact", "low", "risk", "We collect your email address.")
ACCESS = ("abc", "user_rights.access", "info", "protective", "You may ask for a copy.")
TRACKING = ("abc", "tracking.sdks-analytics", "critical", "risk", "   We use\n  analytics SDKs. ")


@pytest.fixture
def db_path(tmp_path):
    """Scans 1 (complete, abc B), 2 (complete, abc D), 3 (interrupted, xyz pending),
    4 ('running' but no process holds the lock: its crawl died)."""
    path = tmp_path / "results.db"
    db = store.open_db(path)
    db["targets"].insert_all([
        {"id": "abc", "name": "ABC Learning", "audience": "child-directed",
         "homepage": "https://abc.example/"},
        {"id": "xyz", "name": "XYZ Games", "audience": "mixed", "homepage": "https://xyz.example/"},
    ], pk="id")
    add_scan(db, 1, "complete", "2026-11-01T07:00:00+00:00", "2026-11-01T07:10:00+00:00",
             crawl={"abc": "done", "xyz": "done"},
             scores={"abc": (20, "B", "scored"), "xyz": (None, None, "unreachable")},
             findings=[SALE, CONTACT, CONTACT, ACCESS])
    add_scan(db, 2, "complete", "2026-11-08T07:00:00+00:00", "2026-11-08T08:02:03+00:00",
             crawl={"abc": "done", "xyz": "done"},
             scores={"abc": (50, "D", "scored"), "xyz": (None, None, "unreachable")},
             findings=[SALE, TRACKING, ACCESS])
    add_scan(db, 3, "interrupted", "2026-11-15T07:00:00+00:00", "2026-11-15T07:01:00+00:00",
             crawl={"abc": "done", "xyz": "pending"}, scores={"abc": (3, "A", "scored")})
    add_scan(db, 4, "running", "2026-11-22T07:00:00+00:00",
             crawl={"abc": "done", "xyz": "pending"})
    db.close()
    return path


def test_status_text_shows_state_duration_counts_and_pending(db_path):
    result = invoke("status", "--db", db_path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [f"database: {db_path}", "lock: free"]
    rows = {line.split()[0]: line.split() for line in lines[3:7]}
    assert rows["4"][1:5] == ["interrupted", "(stale)", "2026-11-22T07:00:00Z", "-"]
    assert rows["3"][1:4] == ["interrupted", "2026-11-15T07:00:00Z", "1m00s"]
    # scan 2: 1h02m, 2 targets, 2 done, 0 failed, 0 pending, 3 findings, 2 risks, 1/1/0 scores
    assert rows["2"][1:] == ["complete", "2026-11-08T07:00:00Z", "1h02m",
                             "2", "2", "0", "0", "3", "2", "1", "1", "0"]
    assert rows["1"][3] == "10m00s"
    assert "scan 4 pending (1): xyz" in lines
    assert "scan 3 pending (1): xyz" in lines
    assert "--resume" in lines[-1]


def test_status_shows_running_while_the_scan_holds_the_lock(db_path):
    with ScanLock(db_path) as lock:
        lock.set_scan_id(4)
        result = invoke("status", "--db", db_path, "--format", "json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["lock"]["held"] and status["lock"]["holder"]["scan_id"] == 4
    scan = status["scans"][0]
    assert (scan["id"], scan["state"], scan["status"]) == (4, "running", "running")
    assert scan["duration_seconds"] > 0  # time running so far
    assert scan["pending_targets"] == ["xyz"]


def test_only_the_scan_the_lock_holder_runs_is_running(db_path):
    db = store.open_db(db_path)
    add_scan(db, 5, "running", "2026-11-29T07:00:00+00:00", crawl={"abc": "pending"})
    db.close()
    with ScanLock(db_path):  # a holder that has not named its scan yet: the latest one
        states = {s["id"]: s["state"] for s in
                  json.loads(invoke("status", "--db", db_path, "--format", "json").output)["scans"]}
    assert (states[5], states[4], states[3]) == ("running", "interrupted (stale)", "interrupted")


def test_status_after_a_killed_scan_shows_its_stale_note(db_path, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    lock_path(db_path).write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "scan_id": 4,
         "started_at": "2026-11-22T07:00:00Z"}))
    result = invoke("status", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == (
        f"lock: free (stale note of scan 4 (pid {pid}, started 2026-11-22T07:00:00Z); "
        "the next scan clears it)")
    assert "interrupted (stale)" in result.output


def test_status_json_counts_and_limit(db_path):
    result = invoke("status", "--db", db_path, "--format", "json", "--limit", "2")
    status = json.loads(result.output)
    assert [s["id"] for s in status["scans"]] == [4, 3]
    result = invoke("status", "--db", db_path, "--format", "json", "--limit", "10")
    first = json.loads(result.output)["scans"][-1]
    assert first["id"] == 1
    assert first["targets"] == {"total": 2, "done": 2, "failed": 0, "pending": 0}
    assert first["scores"] == {"scored": 1, "unreachable": 1, "no_policy": 0}
    assert (first["findings"], first["risk_findings"]) == (4, 3)
    assert first["pending_targets"] == [] and first["duration_seconds"] == 600


def test_status_of_a_database_with_no_scan(tmp_path):
    path = tmp_path / "empty.db"
    store.open_db(path).close()
    result = invoke("status", "--db", path)
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "no scans yet"


def test_history_text_grades_changes_and_key_findings(db_path):
    result = invoke("history", "--db", db_path, "--target", "abc")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "abc: ABC Learning (child-directed, https://abc.example/)"
    assert lines[1] == "scan 1  2026-11-01T07:00:00Z  grade B  score 20  scored  first scan"
    # most severe first; two occurrences of one rule are one line
    assert lines[2].split()[:2] == ["high", "sale.personal-data"]
    assert lines[3].split()[:4] == ["low", "collection.contact", "(collection)", "x2:"]
    assert lines[4] == ("scan 2  2026-11-08T07:00:00Z  grade D  score 50  scored  "
                        "worse (B -> D); score +30; new: tracking.sdks-analytics; "
                        "gone: collection.contact")
    assert lines[5].endswith("tracking.sdks-analytics (tracking): We use analytics SDKs.")
    assert lines[5].split()[0] == "critical"
    assert lines[7] == ("scan 3  2026-11-15T07:00:00Z  grade A  score 3  scored  "
                        "better (D -> A); score -47; gone: sale.personal-data, "
                        "tracking.sdks-analytics")
    assert lines[8] == ("scan 4  2026-11-22T07:00:00Z  grade -  score -  not scored (done)  "
                        "not scored in this scan")


def test_history_json_of_an_unreachable_then_pending_target(db_path):
    result = invoke("history", "--db", db_path, "--target", "xyz", "--format", "json")
    assert result.exit_code == 0, result.output
    history = json.loads(result.output)
    assert history["target"]["name"] == "XYZ Games"
    assert [(s["scan_id"], s["status"], s["grade"]) for s in history["scans"]] == [
        (1, "unreachable", None), (2, "unreachable", None), (3, "not scored (pending)", None),
        (4, "not scored (pending)", None)]
    assert history["scans"][1]["change"]["summary"] == "no change"
    assert history["scans"][1]["change"]["grade"] is None


def test_history_limits_key_findings(db_path):
    result = invoke("history", "--db", db_path, "--target", "abc", "--findings", "1",
                    "--format", "json")
    scans = json.loads(result.output)["scans"]
    assert [[f["rule_id"] for f in s["key_findings"]] for s in scans[:2]] == [
        ["sale.personal-data"], ["tracking.sdks-analytics"]]
    assert scans[0]["risk_rules"] == 2


@pytest.mark.parametrize("args, message", [
    (("status",), "no such database"),
    (("history", "--target", "abc"), "no such database"),
])
def test_missing_database_is_a_one_line_error_and_is_not_created(tmp_path, args, message):
    missing = tmp_path / "missing.db"
    result = invoke(args[0], "--db", missing, *args[1:])
    assert result.exit_code == 2
    assert result.output == f"Error: {missing}: {message}\n"
    assert not missing.exists()


def test_unknown_target_is_a_one_line_error(db_path):
    result = invoke("history", "--db", db_path, "--target", "nope")
    assert result.exit_code == 2
    assert result.output == f"Error: {db_path}: no target 'nope' in the database\n"


@pytest.mark.crawl
def test_status_and_history_of_a_real_scan(demo_scan_db):
    import sqlite3

    result = invoke("status", "--db", demo_scan_db, "--format", "json")
    assert result.exit_code == 0, result.output
    scan = json.loads(result.output)["scans"][0]
    conn = sqlite3.connect(demo_scan_db)
    grades = dict(conn.execute("SELECT target_id, grade FROM scores WHERE scan_id = ?",
                               [scan["id"]]).fetchall())
    assert scan["state"] == "complete"
    assert scan["targets"]["total"] == scan["targets"]["done"] == len(grades)
    assert sum(scan["scores"].values()) == len(grades)
    assert scan["findings"] == conn.execute("SELECT COUNT(*) FROM findings WHERE scan_id = ?",
                                            [scan["id"]]).fetchone()[0]
    result = invoke("history", "--db", demo_scan_db, "--target", "tiny-tunes-tv",
                    "--format", "json")
    entry = json.loads(result.output)["scans"][-1]
    assert entry["grade"] == grades["tiny-tunes-tv"]
    assert entry["key_findings"] and entry["key_findings"][0]["severity"] in ("critical", "high")
