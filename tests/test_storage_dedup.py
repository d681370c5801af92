"""Storage grows with change, not with time: a policy's findings are stored once per document
version and read per scan through the `findings` view; databases made before keep working."""

from __future__ import annotations

import json

import pytest
from scrapy.settings import Settings

from scanner import store
from scanner.items import FetchItem
from scanner.pipelines import StorePipeline, findings_version
from scanner.scoring import load_explanation

POLICY = ("We may sell your personal information to advertisers. We collect your email address "
          "and your precise location. Parents may ask us to delete their child's data.")
POLICY_URL = "https://kids.example/privacy"
VIEW_COLUMNS = ("scan_id", "target_id", "source", "rule_id", "category", "practice", "severity",
                "polarity", "data_types", "evidence", "document_id", "start", "end", "url")


class Stats:
    def __init__(self):
        self.values: dict[str, int] = {}

    def inc_value(self, key, count=1):
        self.values[key] = self.values.get(key, 0) + count


class Crawler:
    def __init__(self, db_path, scan_id):
        self.settings = Settings({"SCANNER_DB": str(db_path), "SCANNER_SCAN_ID": scan_id})
        self.stats = Stats()


def scan_policy(db_path, text=POLICY, targets=("kids",), url=POLICY_URL) -> int:
    """One scan in which each target's policy fetch stores `text`, through the pipeline."""
    db = store.open_db(db_path)
    scan_id = store.start_scan(db, rules_version="test", targets_file="t.yaml", options={})
    db.close()
    pipeline = StorePipeline(Crawler(db_path, scan_id))
    pipeline.open_spider()
    for target_id in targets:
        pipeline.process_item(FetchItem(target_id=target_id, url=url, final_url=url,
                                        kind="policy", status=200, text=text, lang="en",
                                        content_type="text/html", title="Privacy"))
    pipeline.close_spider()
    return scan_id


def policy_findings(db, scan_id, target_id="kids") -> list[tuple]:
    return sorted(db.execute(
        f"SELECT {', '.join(f'[{c}]' for c in VIEW_COLUMNS[3:])} FROM findings "
        "WHERE scan_id = ? AND target_id = ? AND source = 'policy'", [scan_id, target_id]))


def test_an_unchanged_policy_scanned_again_adds_no_finding_row(tmp_path):
    db_path = tmp_path / "s.db"
    first = scan_policy(db_path)
    db = store.open_db(db_path)
    stored = db["document_findings"].count
    assert stored > 0 and db["scan_findings"].count == 0
    second = scan_policy(db_path)
    assert db["document_findings"].count == stored
    assert policy_findings(db, first) == policy_findings(db, second)
    assert len(policy_findings(db, second)) == stored
    # each scan's policy findings have ids of their own, which name their fetch
    ids = [r[0] for r in db.execute("SELECT id FROM findings WHERE source = 'policy'")]
    assert len(set(ids)) == 2 * stored
    fetches = {store.policy_finding_fetch(i)[0] for i in ids}
    assert fetches == {r[0] for r in db.execute("SELECT id FROM fetches")}


def test_a_changed_policy_stores_the_new_version_only(tmp_path):
    db_path = tmp_path / "s.db"
    first = scan_policy(db_path)
    db = store.open_db(db_path)
    before = db["document_findings"].count
    second = scan_policy(db_path, text=POLICY + " We share your data with data brokers.")
    added = db["document_findings"].count - before
    assert added == len(policy_findings(db, second)) and added > 0
    assert len(policy_findings(db, first)) == before


def test_targets_sharing_a_policy_share_its_findings_rows(tmp_path):
    db_path = tmp_path / "s.db"
    scan_id = scan_policy(db_path, targets=("kids", "kids-2"))
    db = store.open_db(db_path)
    assert policy_findings(db, scan_id, "kids") == policy_findings(db, scan_id, "kids-2")
    assert db["document_findings"].count == len(policy_findings(db, scan_id, "kids"))


def test_other_rules_judge_a_stored_document_again(tmp_path, monkeypatch):
    db_path = tmp_path / "s.db"
    first = scan_policy(db_path)
    monkeypatch.setattr("scanner.pipelines.findings_version", lambda: "other-rules+0")
    second = scan_policy(db_path)
    db = store.open_db(db_path)
    versions = {r[0] for r in db.execute("SELECT DISTINCT findings_version FROM document_findings")}
    assert versions == {findings_version(), "other-rules+0"}
    assert policy_findings(db, first) == policy_findings(db, second)


def old_database(path):
    """A database as the scanner made it before m011: policy findings are rows of `findings`,
    a score's explanation names them."""
    db = store.sqlite_utils.Database(path)
    store.migrations.apply(db, stop_before="m011_document_findings")
    scan_id = store.start_scan(db, rules_version="old", targets_file="t.yaml", options={})
    db["targets"].insert({"id": "kids", "name": "Kids"})
    document_id, _ = store.store_document(db, text=POLICY, content_type="text/html", lang="en",
                                          title="Privacy", scan_id=scan_id, url=POLICY_URL)
    db["fetches"].insert({"scan_id": scan_id, "target_id": "kids", "url": POLICY_URL,
                          "final_url": POLICY_URL, "kind": "policy", "status": 200,
                          "document_id": document_id})
    common = {"scan_id": scan_id, "target_id": "kids", "practice": "x", "data_types": "[]"}
    db["findings"].insert_all([
        {**common, "source": "policy", "rule_id": "sale.personal-data", "category": "sale",
         "severity": "high", "polarity": "risk", "evidence": "We may sell your personal information",
         "document_id": document_id, "start": 0, "end": 40, "url": POLICY_URL},
        {**common, "source": "tracker", "rule_id": "curated:doubleclick",
         "category": "behavioral_ads", "severity": "high", "polarity": "risk",
         "evidence": "script https://ad.doubleclick.net/x.js on /", "url": "https://kids.example/"},
    ])
    explanation = {"contributions": [{"rule_id": "sale.personal-data", "finding_ids": [1]},
                                     {"rule_id": "curated:doubleclick", "finding_ids": [2]}]}
    db["scores"].insert({"scan_id": scan_id, "target_id": "kids", "score": 40, "grade": "C",
                         "status": "scored", "explanation": json.dumps(explanation)})
    before = [dict(r) for r in db.query("SELECT * FROM findings ORDER BY id")]
    db.close()
    return before


def test_a_database_made_before_keeps_its_findings_ids_and_search(tmp_path):
    path = tmp_path / "old.db"
    before = old_database(path)
    db = store.open_db(path)
    assert "findings" in db.view_names() and "scan_findings" in db.table_names()
    after = [dict(r) for r in db.query("SELECT * FROM findings ORDER BY id")]
    # m015 adds `also` (the rules merged into a policy finding): null for rows made before it
    assert after == [{**r, "also": None} for r in before]
    named = {i for c in load_explanation(db, 1, "kids")["contributions"]
             for i in c["finding_ids"]}
    assert named <= {r["id"] for r in after}
    hits = db.execute("SELECT rowid FROM scan_findings_fts WHERE scan_findings_fts MATCH "
                      "'doubleclick'").fetchall()
    assert [h[0] for h in hits] == [2]
    assert db.execute("SELECT risk_findings FROM target_risk").fetchone()[0] == 2
    # a new scan of the same policy stores its findings per document; the old scan is unchanged
    scan_policy(path)
    assert [dict(r) for r in db.query("SELECT * FROM findings WHERE scan_id = 1 ORDER BY id")] \
        == after
    assert db["document_findings"].count > 0


def test_a_writer_of_the_old_table_is_refused_by_the_view(tmp_path):
    db = store.open_db(tmp_path / "s.db")
    with pytest.raises(store.sqlite3.OperationalError, match="view"):
        db.execute("INSERT INTO findings (scan_id, target_id, source) VALUES (1, 'x', 'tracker')")


def test_every_finding_a_score_names_is_a_finding_of_its_scan(demo_scan_db):
    db = store.sqlite_utils.Database(demo_scan_db)
    policy_ids = 0
    for row in db["scores"].rows_where("explanation LIKE '%contributions%'"):
        ids = {r[0] for r in db.execute("SELECT id FROM findings WHERE scan_id = ? AND "
                                        "target_id = ?", [row["scan_id"], row["target_id"]])}
        for contribution in load_explanation(db, row["scan_id"], row["target_id"])[
                "contributions"]:
            assert set(contribution["finding_ids"]) <= ids, contribution
            policy_ids += sum(store.policy_finding_fetch(i) is not None
                              for i in contribution["finding_ids"])
    assert policy_ids > 0


def test_a_shard_made_before_merges_its_findings(tmp_path):
    from helpers import invoke

    shard = tmp_path / "old-shard.db"
    before = old_database(shard)
    db = store.sqlite_utils.Database(shard)
    store.finish_scan(db, 1)
    db["scan_targets"].insert({"scan_id": 1, "target_id": "kids", "status": "done"})
    db.close()
    out = tmp_path / "merged.db"
    result = invoke("merge", out, shard)
    assert result.exit_code == 0, result.output
    merged = store.open_db(out)
    columns = ("source", "rule_id", "evidence", "start", "end", "url")
    assert sorted(tuple(r[c] for c in columns) for r in merged.query("SELECT * FROM findings")) \
        == sorted(tuple(r[c] for c in columns) for r in before)
    ids = {r[0] for r in merged.execute("SELECT id FROM findings")}
    named = {i for c in load_explanation(merged, 1, "kids")["contributions"]
             for i in c["finding_ids"]}
    assert named == ids


def test_an_archived_read_only_database_made_before_is_read_as_it_is(tmp_path, monkeypatch):
    from scanner.serve import build_metadata

    path = tmp_path / "archived.db"
    before = old_database(path)
    monkeypatch.setattr(store, "is_writable", lambda _path: False)
    db = store.open_for_reading(path)
    assert "findings" in db.table_names() and "scan_findings" not in db.table_names()
    assert [dict(r) for r in db.query("SELECT * FROM findings ORDER BY id")] == before
    # the index the view's search box names is not there: Datasette uses the table's own
    name = next(iter(build_metadata(path)["databases"].values()))
    assert "fts_table" not in name["tables"]["findings"]
    fresh = tmp_path / "fresh.db"
    store.open_db(fresh).close()
    name = next(iter(build_metadata(fresh)["databases"].values()))
    assert name["tables"]["findings"]["fts_table"] == "scan_findings_fts"


def test_items_are_stored_whole_while_another_connection_writes(tmp_path):
    """A connection from open_db takes the write lock when a `with db.conn:` block starts, and
    sqlite-utils' inner blocks join it: a failure rolls back the whole block, and a second writer
    waits for it instead of failing with 'database is locked'."""
    import threading

    first = store.open_db(tmp_path / "r.db")
    first["notes"].insert({"n": 0})
    with pytest.raises(RuntimeError):
        with first.conn:
            first["notes"].insert({"n": 1})  # sqlite-utils commits here on a plain connection
            raise RuntimeError("the item failed half way")
    assert [r["n"] for r in first["notes"].rows] == [0]
    inside, wrote = threading.Event(), []

    def other_writer():
        second = store.open_db(tmp_path / "r.db")
        inside.wait()
        second["notes"].insert({"n": 3})  # waits for the lock, then writes
        wrote.append(True)

    thread = threading.Thread(target=other_writer)
    thread.start()
    with first.conn:
        assert first.conn.in_transaction
        first["notes"].insert({"n": 2})
        inside.set()
        thread.join(0.3)
        assert not wrote, "the second writer got in while the first held its transaction"
    thread.join(10)
    assert wrote and sorted(r["n"] for r in first["notes"].rows) == [0, 2, 3]
