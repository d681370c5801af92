"""Storage grows with change, not with time (m013): a target's fetches, third parties, cookies
and findings that equal those of its previous scan are stored once and read through the views as
rows of both scans, with each scan's own fetch times; databases made before keep reading the same."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml

from helpers import run_cli
from scanner import store
from scanner.observations import write_observations

TRACKER = '<script src="https://www.googletagmanager.com/gtm.js?id=GTM-KIDS1"></script>'
ADDED_TRACKER = '<script src="https://connect.facebook.net/en_US/fbevents.js"></script>'
POLICY = ("<html><body><main><h1>Privacy Policy</h1><p>We collect your child's email address and "
          "precise location. We may sell your personal information to advertisers. Parents may "
          "ask us to delete their child's data.</p></main></body></html>")
TIMES = ("fetched_at", "request_sent_at", "response_received_at")


def homepage(app: str, *scripts: str) -> tuple:
    body = (f"<html><head><title>{app}</title>{''.join(scripts)}</head><body>"
            f'<a href="/{app}/privacy">Privacy Policy</a><a href="/{app}/games">Games</a>'
            f'<img src="https://www.facebook.com/tr?id={app}" width="1" height="1"></body></html>')
    return 200, {"Set-Cookie": "_ga=GA1.1.42; Path=/"}, body


def site_pages() -> dict:
    pages = {}
    for app in ("kids", "games"):
        pages[f"/{app}/"] = homepage(app, TRACKER)
        pages[f"/{app}/games"] = f"<html><body><h1>{app} games</h1>{TRACKER}</body></html>"
        pages[f"/{app}/privacy"] = POLICY
    return pages


def scan(targets, db_path) -> int:
    run_cli("scan", targets, "--db", db_path, "--allow-private", check=False)
    db = store.open_db(db_path)
    scan_id, status = db.execute("SELECT id, status FROM scans ORDER BY id DESC").fetchone()
    assert status == "complete"
    return scan_id


def view_rows(db, view: str, scan_id: int, target_id: str, skip=("id", "scan_id")) -> Counter:
    rows = Counter()
    if view == "fetches":
        skip = (*skip, *TIMES)
    for row in db.query(f"SELECT * FROM [{view}] WHERE scan_id = ? AND target_id = ?",
                        [scan_id, target_id]):
        if view == "fetches":  # this scan's own times and Date header, checked apart
            headers = json.loads(row["response_headers"] or "{}")
            headers.pop("Date", None)
            row["response_headers"] = json.dumps(headers, sort_keys=True)
        rows[tuple((k, v) for k, v in row.items() if k not in skip)] += 1
    return rows


def stored(db, table: str, scan_id: int) -> int:
    return db.execute(f"SELECT COUNT(*) FROM [{table}] WHERE scan_id = ?", [scan_id]).fetchone()[0]


@pytest.fixture
def scanned_twice(loopback_site, tmp_path):
    site = loopback_site(site_pages())
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"targets": [
        {"id": app, "audience": "child-directed", "homepage": f"{site.url}/{app}/"}
        for app in ("kids", "games")]}))
    db_path = tmp_path / "r.db"
    first = scan(targets, db_path)
    second = scan(targets, db_path)
    # Each scan reads rules/ as it is when it starts: a rule file saved between the two (in a
    # working tree others edit) gives the re-scan a new findings version, so its policy fetches
    # are stored again and its policy findings get other ids. That is no fault of the storage.
    versions = [r[0] for r in store.open_db(db_path).execute(
        "SELECT rules_version FROM scans WHERE id IN (?, ?) ORDER BY id", [first, second])]
    assert versions[0] == versions[1], (
        f"rules/ changed between the two scans ({versions[0]} -> {versions[1]}): run this test "
        "in a copy nobody edits (git worktree add)")
    return site, targets, db_path, first, second


@pytest.mark.crawl
def test_an_unchanged_rescan_stores_no_observation_again_and_reads_the_same(scanned_twice):
    _, _, db_path, first, second = scanned_twice
    db = store.open_db(db_path)
    for table in ("third_party_rows", "cookie_rows", "scan_findings", "fetch_rows"):
        assert stored(db, table, first) > 0, table
        assert stored(db, table, second) == 0, f"{table}: the re-scan stored rows again"
    refs = {r["target_id"]: r for r in db.query("SELECT * FROM observation_refs WHERE scan_id = ?",
                                                [second])}
    assert set(refs) == {"kids", "games"}
    for target_id in ("kids", "games"):
        assert {k: v for k, v in refs[target_id].items() if k.endswith("_from")} == {
            "third_parties_from": first, "findings_from": first, "crosscheck_from": first}
        for view in ("fetches", "third_parties", "cookies", "findings"):
            before, after = view_rows(db, view, first, target_id), view_rows(db, view, second,
                                                                             target_id)
            assert before and after == before, view
    # Each fetch reads with the time it was made in its own scan, not the earlier one's.
    for scan_id in (first, second):
        started, finished = db.execute("SELECT started_at, finished_at FROM scans WHERE id = ?",
                                       [scan_id]).fetchone()
        for row in db.query("SELECT * FROM fetches WHERE scan_id = ?", [scan_id]):
            assert started <= row["fetched_at"] <= finished
            if row["request_sent_at"]:
                assert started[:19] <= row["request_sent_at"][:19] <= finished[:19]
                assert row["response_received_at"] >= row["request_sent_at"]
    assert db["fetch_times"].count == stored(db, "fetch_rows", first)
    assert db["cookie_times"].count == stored(db, "cookie_rows", first)
    # Findings and scores of the re-scan are those of the first scan.
    scores = {r["scan_id"]: (r["target_id"], r["score"], r["grade"], r["status"], r["explanation"])
              for r in db.query("SELECT * FROM scores WHERE target_id = 'kids'")}
    assert scores[second] == scores[first] and scores[first][2] in "ABCDEF"
    ids = [r[0] for r in db.execute("SELECT id FROM findings WHERE scan_id = ?", [second])]
    assert len(ids) == len(set(ids)), "finding ids are unique within a scan"


@pytest.mark.crawl
def test_a_changed_target_stores_its_change_and_the_unchanged_one_does_not(scanned_twice):
    site, targets, db_path, first, second = scanned_twice
    site.pages["/games/"] = homepage("games", TRACKER, ADDED_TRACKER)
    third = scan(targets, db_path)
    db = store.open_db(db_path)
    refs = {r["target_id"]: r for r in db.query("SELECT * FROM observation_refs WHERE scan_id = ?",
                                                [third])}
    # the unchanged target still points at the scan that stored its rows: never a chain
    assert refs["kids"]["third_parties_from"] == first
    assert {r[0] for r in db.execute(
        "SELECT DISTINCT r.scan_id FROM fetch_times t JOIN fetch_rows r ON r.id = t.fetch_id "
        "WHERE t.scan_id = ? AND t.target_id = 'kids'", [third])} == {first}
    # of the changed target, only the changed page's fetches are stored again
    changed = {r[0] for r in db.execute("SELECT url FROM fetch_rows WHERE scan_id = ? AND "
                                        "target_id = 'games'", [third])}
    assert changed == {f"{site.url}/games/"}
    assert db.execute("SELECT COUNT(*) FROM fetch_times WHERE scan_id = ? AND target_id = "
                      "'games'", [third]).fetchone()[0] > 0
    assert "games" not in refs or refs["games"]["third_parties_from"] is None
    hosts = {r[0] for r in db.execute("SELECT host FROM third_party_rows WHERE scan_id = ?",
                                      [third])}
    assert "connect.facebook.net" in hosts
    assert db.execute("SELECT COUNT(*) FROM third_party_rows WHERE scan_id = ? AND target_id = "
                      "'kids'", [third]).fetchone()[0] == 0

    def seen(scan_id):
        return {r[0] for r in db.execute("SELECT host FROM third_parties WHERE scan_id = ? AND "
                                         "target_id = 'games'", [scan_id])}

    assert seen(third) - seen(second) == {"connect.facebook.net"}

    def evidence(scan_id):
        return {r[0] for r in db.execute("SELECT evidence FROM findings WHERE scan_id = ? AND "
                                         "target_id = 'games' AND source = 'tracker'", [scan_id])}

    added = evidence(third) - evidence(second)
    assert added and all("connect.facebook.net" in e for e in added), added
    assert stored(db, "scan_findings", third) > 0
    assert view_rows(db, "findings", third, "kids") == view_rows(db, "findings", first, "kids")


# ---- without a crawl: the writer and the views ------------------------------------------------

def fetch(scan_id: int, second: int, **extra) -> dict:
    headers = {"Content-Type": ["text/html"], "Date": [f"Wed, 02 Dec 2026 09:31:{second:02d} GMT"],
               "Server": ["test"]}
    return {"scan_id": scan_id, "target_id": "kids", "url": "https://kids.example/",
            "final_url": "https://kids.example/", "kind": "page", "status": 200,
            "content_type": "text/html", "discovered_by": "homepage", "read_with": "static",
            "fetched_at": f"2026-12-02T09:31:{second:02d}+00:00",
            "request_sent_at": f"2026-12-02T09:31:{second:02d}.120+00:00",
            "response_received_at": f"2026-12-02T09:31:{second:02d}.345+00:00",
            "request_headers": json.dumps({"User-Agent": ["t"]}, separators=(",", ":")),
            "response_headers": json.dumps(headers, sort_keys=True, separators=(",", ":")),
            **extra}


def new_scan(db, target_id="kids") -> int:
    scan_id = store.start_scan(db, rules_version="t", targets_file="t.yaml", options={})
    store.mark_targets(db, scan_id, [target_id], "done")
    return scan_id


def own_columns(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("id", "scan_id")}


def test_a_shared_fetch_reads_exactly_as_its_own_row_would(db):
    first, second = new_scan(db), new_scan(db)
    write_observations(db, first, "kids", {"fetches": [fetch(first, 5), fetch(first, 6, url="https://kids.example/a")]})
    # times in a form the scanner does not write are kept as they are
    rows = [fetch(second, 40, fetched_at="yesterday"), fetch(second, 41, url="https://kids.example/a")]
    assert write_observations(db, second, "kids", {"fetches": rows}) == {"fetches": first}
    assert db.execute("SELECT COUNT(*) FROM fetch_rows WHERE scan_id = ?", [second]).fetchone()[0] == 0
    read = sorted((own_columns(r) for r in db.query("SELECT * FROM fetches WHERE scan_id = ?",
                                                   [second])), key=lambda r: r["url"])
    assert read == sorted((own_columns(store_form(db, r)) for r in rows), key=lambda r: r["url"])
    assert read[0]["fetched_at"] == "yesterday" and "09:31:40 GMT" in read[0]["response_headers"]


def store_form(db, row: dict) -> dict:
    """The row as the fetches view gives it back: every column, nulls included."""
    return {c: row.get(c) for c in db["fetches"].columns_dict}


def test_only_the_fetches_that_changed_are_stored_again(db):
    first, second = new_scan(db), new_scan(db)
    write_observations(db, first, "kids", {"fetches": [fetch(first, 5), fetch(first, 6, url="https://kids.example/a")]})
    rows = [fetch(second, 7), fetch(second, 8, url="https://kids.example/a", raw_sha256="new")]
    assert write_observations(db, second, "kids", {"fetches": rows}) == {"fetches": first}
    (own,) = db.query("SELECT * FROM fetch_rows WHERE scan_id = ?", [second])
    assert own["raw_sha256"] == "new" and db["fetch_times"].count == 1
    read = sorted((own_columns(r) for r in db.query("SELECT * FROM fetches WHERE scan_id = ?",
                                                   [second])), key=lambda r: r["url"])
    assert read == sorted((own_columns(store_form(db, r)) for r in rows), key=lambda r: r["url"])
    # a third scan shares both: each with the row that holds it, whichever scan stored it
    third = new_scan(db)
    write_observations(db, third, "kids", {"fetches": [fetch(third, 9), fetch(
        third, 10, url="https://kids.example/a", raw_sha256="new")]})
    assert {r[0] for r in db.execute("SELECT r.scan_id FROM fetch_times t JOIN fetch_rows r ON "
                                     "r.id = t.fetch_id WHERE t.scan_id = ?", [third])} == \
        {first, second}
    assert db.execute("SELECT COUNT(*) FROM fetch_rows WHERE scan_id = ?", [third]).fetchone()[0] == 0


def test_rows_the_view_could_not_give_back_exactly_are_written(db):
    first, second = new_scan(db), new_scan(db)
    spaced = json.dumps({"Date": ["Wed, 02 Dec 2026 09:31:05 GMT"], "Server": ["test"]})
    write_observations(db, first, "kids", {"fetches": [fetch(first, 5, response_headers=spaced)]})
    later = json.dumps({"Date": ["Wed, 02 Dec 2026 09:32:05 GMT"], "Server": ["test"]})
    row = fetch(second, 6, response_headers=later)
    # the same content, but SQLite's JSON functions would not give back this spacing
    assert write_observations(db, second, "kids", {"fetches": [row]}) == {"fetches": None}
    (read,) = db.query("SELECT * FROM fetches WHERE scan_id = ?", [second])
    assert read["response_headers"] == later
    assert db["fetch_times"].count == 0


def test_a_difference_in_content_stores_rows_and_a_scan_with_rows_already_adds_to_them(db):
    first, second = new_scan(db), new_scan(db)
    party = {"target_id": "kids", "page_url": "https://kids.example/", "host": "t.example",
             "request_url": "https://t.example/x.js", "domain": "t.example", "via": "script"}
    write_observations(db, first, "kids", {"third_parties": [{"scan_id": first, **party}]})
    changed = {**party, "via": "img"}
    assert write_observations(db, second, "kids", {
        "third_parties": [{"scan_id": second, **changed}]}) == {"third_parties": None}
    third = new_scan(db)
    write_observations(db, third, "kids", {"third_parties": [{"scan_id": third, **changed}]})
    # a late row of the same target in the same scan is added, never compared
    assert write_observations(db, third, "kids", {
        "third_parties": [{"scan_id": third, **party}]}) == {"third_parties": None}
    vias = sorted(r[0] for r in db.execute("SELECT via FROM third_parties WHERE scan_id = ?", [third]))
    assert vias == ["img", "script"]


def test_a_database_made_before_reads_the_same_through_the_views(tmp_path):
    path = tmp_path / "old.db"
    db = store.sqlite_utils.Database(path)
    store.migrations.apply(db, stop_before="m013_observations_once")
    scan_id = store.start_scan(db, rules_version="old", targets_file="t.yaml", options={})
    db["fetches"].insert(fetch(scan_id, 5, response_headers=json.dumps({"Server": ["x"]})))
    db["third_parties"].insert({"scan_id": scan_id, "target_id": "kids", "host": "t.example",
                                "request_url": "https://t.example/x.js", "domain": "t.example"})
    db["cookies"].insert({"scan_id": scan_id, "target_id": "kids", "name": "_ga",
                          "domain": "kids.example", "third_party": 0})
    db["scan_findings"].insert({"scan_id": scan_id, "target_id": "kids", "source": "tracker",
                                "rule_id": "curated:google", "evidence": "gtm.js"})
    before = {t: [dict(r) for r in db.query(f"SELECT * FROM [{t}] ORDER BY id")]
              for t in ("fetches", "third_parties", "cookies", "findings")}
    db.close()
    db = store.open_db(path)
    assert {"fetches", "third_parties", "cookies", "findings"} <= set(db.view_names())
    for view, rows in before.items():
        if view == "findings":  # m015's `also` (rules merged into a policy finding): null here
            rows = [{**r, "also": None} for r in rows]
        assert [dict(r) for r in db.query(f"SELECT * FROM [{view}] ORDER BY id")] == rows, view
    # a new scan of it is written and read through the views
    second = new_scan(db)
    store.mark_targets(db, scan_id, ["kids"], "done")
    write_observations(db, second, "kids", {"fetches": [fetch(second, 9)]})
    assert db.execute("SELECT url FROM fetches WHERE scan_id = ?", [second]).fetchone()[0] == \
        "https://kids.example/"


def test_a_shard_whose_scan_shares_rows_merges_them_as_rows(tmp_path):
    from scanner.merge import merge_shards

    shard = tmp_path / "shard.db"
    db = store.open_db(shard)
    db["targets"].insert({"id": "kids", "name": "Kids"})
    party = {"target_id": "kids", "page_url": "https://kids.example/", "host": "t.example",
             "request_url": "https://t.example/x.js", "domain": "t.example", "via": "script"}
    scans = []
    for second in (5, 50):  # the second scan shares the first one's rows
        scan_id = new_scan(db)
        write_observations(db, scan_id, "kids", {"fetches": [fetch(scan_id, second)],
                                                 "third_parties": [{"scan_id": scan_id, **party}]})
        store.finish_scan(db, scan_id)
        scans.append(scan_id)
    assert db["observation_refs"].count == 1
    expected = {view: [own_columns(r) for r in db.query(
        f"SELECT * FROM [{view}] WHERE scan_id = ? ORDER BY id", [scans[1]])]
        for view in ("fetches", "third_parties")}
    db.close()
    outcome = merge_shards(tmp_path / "out.db", [shard])
    out = store.open_db(tmp_path / "out.db")
    for view, rows in expected.items():
        merged = [own_columns(r) for r in out.query(
            f"SELECT * FROM [{view}] WHERE scan_id = ? ORDER BY id", [outcome.scan_id])]
        assert merged == rows and rows, view
    assert rows[0]["host"] == "t.example"
    assert "09:31:50" in expected["fetches"][0]["fetched_at"]


def scrub(value, volatile=("scan_id", "scan", "fetched_at", "request_sent_at",
                           "response_received_at", "started_at", "finished_at",
                           "new_in_this_scan")):
    """A report's data without what differs between two scans of the same thing (a policy
    is new in the first scan only)."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


@pytest.mark.crawl
def test_the_report_of_the_rescan_says_what_the_first_scan_said(scanned_twice):
    from reports.data import target_report_data

    _, _, db_path, first, second = scanned_twice
    db = store.open_for_reading(db_path)
    for target_id in ("kids", "games"):
        before = target_report_data(db, first, target_id, with_changes=False)
        after = target_report_data(db, second, target_id, with_changes=False)
        assert before["findings"] and scrub(after) == scrub(before)


def test_rows_a_later_scan_shares_are_never_deleted_by_a_merge(db):
    from scanner.shard_db import MergeError, refuse_if_shared

    first, second = new_scan(db), new_scan(db)
    for scan_id in (first, second):
        write_observations(db, scan_id, "kids", {"fetches": [fetch(scan_id, 5)]})
    with pytest.raises(MergeError, match=f"scan {second} shares rows"):
        refuse_if_shared(db, first, ["kids"])
    refuse_if_shared(db, second, ["kids"])  # nothing shares the latest scan's rows


def test_an_archived_database_made_before_is_read_without_migrating_it(tmp_path, monkeypatch):
    from reports.data import scan_report_data

    path = tmp_path / "old.db"
    db = store.sqlite_utils.Database(path)
    store.migrations.apply(db, stop_before="m013_observations_once")
    scan_id = new_scan(db)
    db["targets"].insert({"id": "kids", "name": "Kids"})
    db["fetches"].insert(fetch(scan_id, 5))
    db.close()
    monkeypatch.setattr(store, "is_writable", lambda path: False)
    db = store.open_for_reading(path)
    assert "m013_observations_once" in store.pending_migrations(db)
    (target,) = scan_report_data(db, scan_id)["targets"]
    assert target["id"] == "kids"


def test_a_cookie_whose_expiry_moved_with_the_scan_is_shared(db):
    first, second = new_scan(db), new_scan(db)
    cookie = {"target_id": "kids", "page_url": "https://kids.example/", "name": "uid",
              "domain": "kids.example", "third_party": 0, "secure": 1, "via": "header"}
    write_observations(db, first, "kids", {"cookies": [
        {"scan_id": first, **cookie, "expires": "2027-12-02T09:31:05+00:00"},
        {"scan_id": first, **cookie, "name": "session", "expires": None}]})
    rows = [{"scan_id": second, **cookie, "expires": "2027-12-09T09:31:05+00:00"},
            {"scan_id": second, **cookie, "name": "session", "expires": None},
            {"scan_id": second, **cookie, "name": "new", "expires": "soon"}]
    assert write_observations(db, second, "kids", {"cookies": rows}) == {"cookies": first}
    assert [r["name"] for r in db.query("SELECT name FROM cookie_rows WHERE scan_id = ?",
                                        [second])] == ["new"]
    read = sorted((own_columns(r) for r in db.query("SELECT * FROM cookies WHERE scan_id = ?",
                                                   [second])), key=lambda r: r["name"])
    assert read == sorted(({c: r.get(c) for c in db["cookies"].columns_dict if c not in
                            ("id", "scan_id")} for r in rows), key=lambda r: r["name"])
