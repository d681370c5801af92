"""`scanner merge`: shard databases into one scan, as a single-machine scan of the registry would be.

The shards here are cut from one real scan of the demo sites (each keeps only its targets' rows,
as `scanner scan --shard I/N` would have written); tests/test_scrapyd.py merges real shard scans.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from helpers import invoke

from scanner.scoring import load_explanation
from scanner.shard import Shard


def copy_db(source: Path, destination: Path) -> Path:
    """A consistent copy (the WAL folded in) of a results database."""
    with sqlite3.connect(source) as src, sqlite3.connect(destination) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return destination


def cut_shard(full_db: Path, out: Path, shard: Shard) -> Path:
    """The shard database `scanner scan --shard` would write: only the shard's targets (with
    the evidence files beside the database, which rows of other targets simply do not name)."""
    copy_db(full_db, out)
    if Path(f"{full_db}.evidence").is_dir():
        shutil.copytree(f"{full_db}.evidence", f"{out}.evidence")
    conn = sqlite3.connect(out)
    keep = [r[0] for r in conn.execute("SELECT id FROM targets") if shard.holds(r[0])]
    marks = ",".join("?" for _ in keep)
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")}
        if "target_id" in columns:
            conn.execute(f"DELETE FROM [{table}] WHERE target_id NOT IN ({marks})", keep)
    conn.execute(f"DELETE FROM targets WHERE id NOT IN ({marks})", keep)
    options = json.loads(conn.execute("SELECT options FROM scans").fetchone()[0])
    conn.execute("UPDATE scans SET options = ?", [json.dumps({**options, "shard": str(shard)})])
    conn.commit()
    conn.close()
    return out


def scan_facts(db_path: Path, scan_id: int | None = None) -> dict:
    """What a researcher reads of one scan, free of row ids: targets, documents, findings,
    third parties, cookies, fetches, grades, and the target_risk view."""
    conn = sqlite3.connect(db_path)
    scan_id = scan_id or conn.execute("SELECT MAX(id) FROM scans").fetchone()[0]

    def rows(sql):
        return sorted(conn.execute(sql, [scan_id]).fetchall(), key=repr)

    facts = {
        "targets": rows("SELECT target_id, status FROM scan_targets WHERE scan_id = ?"),
        "documents": rows("SELECT DISTINCT d.sha256, d.text FROM fetches f JOIN documents d "
                          "ON d.id = f.document_id WHERE f.scan_id = ?"),
        "findings": rows("SELECT f.target_id, f.source, f.rule_id, f.severity, f.polarity, "
                         "f.evidence, f.start, f.[end], d.sha256 FROM findings f "
                         "LEFT JOIN documents d ON d.id = f.document_id WHERE f.scan_id = ?"),
        "third_parties": rows("SELECT target_id, page_url, request_url, domain, entity, category, "
                              "via FROM third_parties WHERE scan_id = ?"),
        "cookies": rows("SELECT target_id, name, domain, third_party FROM cookies WHERE scan_id = ?"),
        "fetches": rows("SELECT target_id, url, final_url, kind, status, error FROM fetches "
                        "WHERE scan_id = ?"),
        "grades": rows("SELECT target_id, score, grade, status FROM scores WHERE scan_id = ?"),
    }
    conn.close()
    return facts


def table_counts(db_path: Path) -> dict:
    conn = sqlite3.connect(db_path)
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    counts = {name: conn.execute(f"SELECT COUNT(*) FROM [{name}]").fetchone()[0] for name in names}
    conn.close()
    return counts


def two_shards(demo_scan_db, tmp_path) -> list[Path]:
    return [cut_shard(demo_scan_db, tmp_path / f"shard{i}.db", Shard(i, 2)) for i in (1, 2)]


def test_two_shards_merge_into_the_scan_one_machine_made(demo_scan_db, tmp_path):
    shards = two_shards(demo_scan_db, tmp_path)
    assert all(table_counts(s)["targets"] for s in shards)  # the demo splits into two real shards
    out = tmp_path / "merged.db"
    result = invoke("merge", out, *shards)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "scan 1: complete"
    assert scan_facts(out) == scan_facts(demo_scan_db)
    conn = sqlite3.connect(out)
    status, options = conn.execute("SELECT status, options FROM scans WHERE id = 1").fetchone()
    assert status == "complete" and json.loads(options)["shard"] == ""
    assert sorted(r[0] for r in conn.execute("SELECT shard FROM merged_shards")) == ["1/2", "2/2"]


def test_score_explanations_name_the_merged_findings(demo_scan_db, tmp_path):
    out = tmp_path / "merged.db"
    assert invoke("merge", out, *two_shards(demo_scan_db, tmp_path)).exit_code == 0
    conn = sqlite3.connect(out)
    checked = 0
    for scan_id, target_id, explanation in conn.execute(
            "SELECT scan_id, target_id, explanation FROM scores").fetchall():
        for contribution in load_explanation(conn, scan_id, target_id, explanation).get(
                "contributions", []):
            for finding_id in contribution["finding_ids"]:
                row = conn.execute("SELECT target_id, rule_id FROM findings WHERE id = ?",
                                   [finding_id]).fetchone()
                assert row is not None and row[0] == target_id
                assert row[1] in contribution["rules"] + [contribution["rule_id"]]
                checked += 1
    assert checked > 10


def test_merging_a_shard_again_adds_nothing(demo_scan_db, tmp_path):
    shards = two_shards(demo_scan_db, tmp_path)
    out = tmp_path / "merged.db"
    assert invoke("merge", out, *shards).exit_code == 0
    before = table_counts(out)
    again = invoke("merge", out, *shards, shards[0])
    assert again.exit_code == 0, again.output
    assert again.output.count("already merged into scan 1: nothing added") == 3
    assert table_counts(out) == before


def test_shards_merged_one_call_at_a_time_make_one_scan(demo_scan_db, tmp_path):
    first, second = two_shards(demo_scan_db, tmp_path)
    out = tmp_path / "merged.db"
    partial = invoke("merge", out, first)
    assert partial.exit_code == 0
    assert partial.output.strip().splitlines()[-1] == "scan 1: interrupted (shards not merged: 2/2)"
    assert invoke("merge", out, second).output.strip().splitlines()[-1] == "scan 1: complete"
    assert scan_facts(out) == scan_facts(demo_scan_db)


def test_into_new_starts_a_scan_of_its_own(demo_scan_db, tmp_path):
    first, second = two_shards(demo_scan_db, tmp_path)
    out = tmp_path / "merged.db"
    assert invoke("merge", out, first).exit_code == 0
    alone = invoke("merge", out, second, "--into", "new")  # what dispatch does: never last week's scan
    assert alone.output.strip().splitlines()[-1] == "scan 2: interrupted (shards not merged: 1/2)"
    states = sqlite3.connect(out).execute("SELECT id, status FROM scans ORDER BY id").fetchall()
    assert states == [(1, "interrupted"), (2, "interrupted")]


def test_documents_are_stored_once_across_merged_scans(demo_scan_db, tmp_path):
    out = tmp_path / "merged.db"
    assert invoke("merge", out, *two_shards(demo_scan_db, tmp_path)).exit_code == 0
    documents = table_counts(out)["documents"]
    # the same registry scanned whole: a second scan whose policies are all stored already
    rescan = invoke("merge", out, copy_db(demo_scan_db, tmp_path / "whole.db"))
    assert rescan.exit_code == 0 and "0 new documents" in rescan.output
    assert rescan.output.strip().splitlines()[-1] == "scan 2: complete"
    assert table_counts(out)["documents"] == documents
    assert scan_facts(out, 2) == scan_facts(demo_scan_db)


def test_a_shard_with_other_rules_is_refused_unless_forced(demo_scan_db, tmp_path):
    first, second = two_shards(demo_scan_db, tmp_path)
    with sqlite3.connect(second) as conn:
        conn.execute("UPDATE scans SET rules_version = 'other-rules0'")
    conn.close()
    out = tmp_path / "merged.db"
    result = invoke("merge", out, first, second)
    assert result.exit_code == 2
    refusal = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(refusal) == 1 and "rules version other-rules0 differs" in refusal[0]
    assert str(second) in refusal[0] and "--force-rules" in refusal[0]
    assert table_counts(out)["merged_shards"] == 1
    forced = invoke("merge", out, second, "--force-rules")
    assert forced.exit_code == 0 and forced.output.strip().endswith("scan 1: complete")


def test_bad_shards_get_one_line_each_and_the_good_one_is_merged(demo_scan_db, tmp_path):
    first, _ = two_shards(demo_scan_db, tmp_path)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(first.read_bytes()[:4096] + b"\x00garbage" * 100)
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database at all\n")
    foreign = tmp_path / "other-tool.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE scans (id INTEGER PRIMARY KEY, note TEXT)")
    conn.close()
    missing = tmp_path / "missing.db"
    out = tmp_path / "merged.db"
    result = invoke("merge", out, corrupt, garbage, first, foreign, missing)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 4, result.output
    for bad, reason in ((corrupt, "SQLite"), (garbage, "not a readable SQLite database"),
                        (foreign, "not a scanner database"), (missing, "no such file")):
        assert any(line.startswith(f"Error: {bad}: ") and reason in line for line in errors), bad
    assert "shard 1/2 (complete) merged into scan 1" in result.output
    assert table_counts(out)["merged_shards"] == 1
    assert {r[0] for r in scan_facts(out)["targets"]} == {t for t, _ in scan_facts(first)["targets"]}


def test_a_resumed_shard_merged_again_replaces_what_it_brought(demo_scan_db, tmp_path):
    first, second = two_shards(demo_scan_db, tmp_path)
    with sqlite3.connect(first) as conn:  # as if its scan had been cut short
        conn.execute("UPDATE scans SET status = 'interrupted', finished_at = '2026-01-01T00:00:00+00:00'")
    conn.close()
    out = tmp_path / "merged.db"
    assert invoke("merge", out, first, second).output.strip().endswith(
        "scan 1: interrupted (shards that did not complete: 1/2)")
    with sqlite3.connect(first) as conn:  # ... and then resumed to its end, with other --workers
        options = json.loads(conn.execute("SELECT options FROM scans").fetchone()[0])
        conn.execute("UPDATE scans SET status = 'complete', finished_at = '2026-01-02T00:00:00+00:00', "
                     "options = ?", [json.dumps({**options, "workers": 4})])
    conn.close()
    again = invoke("merge", out, first)
    assert "replaced into scan 1" in again.output and again.output.strip().endswith("scan 1: complete")
    assert scan_facts(out) == scan_facts(demo_scan_db)


def test_merge_needs_a_shard_and_a_good_into():
    assert invoke("merge", "out.db").exit_code == 2
    result = invoke("merge", "out.db", "a.db", "--into", "soon")
    assert result.exit_code == 2 and "--into 'soon'" in result.output


def test_evidence_files_follow_their_rows_into_the_merged_database(demo_scan_db, tmp_path):
    first, second = two_shards(demo_scan_db, tmp_path)
    picture = b"\x89PNG screenshot of the homepage"
    for shard, keep_file in ((first, True), (second, False)):
        target = sqlite3.connect(shard).execute("SELECT id FROM targets LIMIT 1").fetchone()[0]
        relative = f"{shard.name}.evidence/screenshots/{target}.png"
        if keep_file:
            (tmp_path / relative).parent.mkdir(parents=True)
            (tmp_path / relative).write_bytes(picture)
        with sqlite3.connect(shard) as conn:
            conn.execute("INSERT INTO browser_artifacts (scan_id, target_id, page_url, kind, path, "
                         "sha256, bytes) VALUES (1, ?, 'http://127.0.0.1/', 'screenshot', ?, 'x', ?)",
                         [target, relative, len(picture)])
        conn.close()
    out = tmp_path / "merged" / "results.db"
    result = invoke("merge", out, first, second)
    assert result.exit_code == 0, result.output
    assert "shard 2/2 (complete) merged into scan 1" in result.output
    assert result.output.count("1 evidence files not found beside it") == 1
    paths = [r[0] for r in sqlite3.connect(out).execute("SELECT path FROM browser_artifacts")]
    assert len(paths) == 2 and all(p.startswith("results.db.evidence/screenshots/") for p in paths)
    copied = [out.parent / p for p in paths if (out.parent / p).exists()]
    assert len(copied) == 1 and copied[0].read_bytes() == picture
    # every other evidence file the shards' rows name (raw bodies, ...) came along too
    conn = sqlite3.connect(out)
    for table in ("bodies", "browser_artifacts"):
        if table in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}:
            named = [r[0] for r in conn.execute(f"SELECT path FROM [{table}] WHERE path IS NOT NULL")]
            assert all(p.startswith("results.db.evidence/") for p in named)
            if table == "bodies":
                assert named and all((out.parent / p).is_file() for p in named)
