"""`scanner demo` (what `make demo` runs): serves the sample sites, scans, writes db and report."""

import socket

import pytest
import sqlite_utils

from helpers import run_cli

pytestmark = pytest.mark.crawl


def test_demo_writes_database_report_and_summary(tmp_path):
    db_path, report = tmp_path / "results.db", tmp_path / "report.html"
    result = run_cli("demo", "--db", db_path, "--report", report)
    db = sqlite_utils.Database(db_path)
    statuses = {r["target_id"]: (r["status"], r["grade"]) for r in db["scores"].rows}
    assert len(statuses) == 7
    assert statuses["lost-lagoon"] == ("unreachable", None)
    assert statuses["jungle-jumpers"][0] == "no_policy"
    html = report.read_text(encoding="utf-8")
    assert "Happy Hippo Learning" in html and "<svg" in html
    for target_id in statuses:
        assert target_id in result.stdout
    assert "unreachable" in result.stdout


def test_demo_with_a_port_taken_is_a_one_line_error(tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 8701))
        taken.listen()
        result = run_cli("demo", "--db", tmp_path / "r.db", "--report", tmp_path / "r.html",
                         check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("Error: cannot serve demo site")
    assert "8701" in result.stderr
    assert not (tmp_path / "r.db").exists()


def test_summary_top_findings_are_what_raised_the_score(demo_scan_db):
    """A stated safeguard lowers a score: it is never one of the summary's top findings."""
    import sqlite_utils

    from scanner.summary import summary_rows

    db = sqlite_utils.Database(demo_scan_db)
    rows = {r["target_id"]: r for r in summary_rows(db, 1)}
    safeguards = {r["rule_id"] for r in db["findings"].rows_where("polarity = 'protective'")}
    assert rows["happy-hippo"]["top_findings"], rows["happy-hippo"]
    for row in rows.values():
        assert not set(row["top_findings"]) & safeguards, row
