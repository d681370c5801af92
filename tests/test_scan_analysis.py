"""Each target is cross-checked and scored by the scan process as soon as its worker commits it,
while the workers crawl on (scanner.analysis.ScanAnalysis, scanner.crawl.run_scan)."""

import sqlite3
import threading

import pytest
import yaml

from scanner import store
from scanner.analysis import analyse_scan
from scanner.crawl import ScanEvents, run_scan
from scanner.options import ScanOptions
from scanner.targets import Target, load_targets
from scanner.trackers import TrackerList

# How long the held homepage waits for the other target's score: the fast crawl's download
# timeout is 10 s, so it must answer before that.
HOLD_SECONDS = 8

POLICY = ("<html><body><main><h1>Privacy Policy</h1><p>We may sell your personal information to "
          "data brokers. We use cookies for advertising. {name}.</p></main></body></html>")


def site_pages(name, home=None):
    body = (f'<html><head><script src="https://www.googletagmanager.com/gtm.js?id=GTM-{name}">'
            '</script></head><body><a href="/privacy">Privacy Policy</a></body></html>')
    return {"/": home or body, "/privacy": POLICY.format(name=name)}


def write_targets(tmp_path, urls):
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": [
        {"id": f"site-{i}", "audience": "child-directed", "homepage": f"{url}/"}
        for i, url in enumerate(urls)]}), encoding="utf-8")
    return path


class Scored(ScanEvents):
    def __init__(self):
        self.scored: list[str] = []
        self.finished: list[str] = []
        self.first_scored = threading.Event()

    def target_finished(self, target_id, status, seconds, reachable, reason=None):
        self.finished.append(target_id)

    def target_scored(self, target_id, row):
        self.scored.append(target_id)
        self.first_scored.set()


def scores(db_path):
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT target_id, grade FROM scores").fetchall())


@pytest.mark.crawl
def test_a_target_is_scored_while_the_last_target_is_still_crawling(loopback_site, tmp_path):
    db_path = tmp_path / "r.db"
    events = Scored()
    seen = {}

    def held_home():
        # site-1's homepage answers only once the scan process has reported site-0 scored.
        seen["reported"] = events.first_scored.wait(HOLD_SECONDS)
        seen["stored"] = scores(db_path)
        return site_pages("held")["/"]

    sites = [loopback_site(site_pages("quick")), loopback_site(site_pages("held", held_home))]
    path = write_targets(tmp_path, [site.url for site in sites])
    outcome = run_scan(db_path, load_targets(path), str(path), ScanOptions(allow_private=True),
                       events=events)

    assert seen["reported"], "site-0 was not scored while site-1 was being crawled"
    assert set(seen["stored"]) == {"site-0"} and seen["stored"]["site-0"]
    assert events.scored == ["site-0", "site-1"]
    assert outcome.status == "complete" and outcome.not_done == []
    assert [row["target_id"] for row in outcome.scores] == ["site-0", "site-1"]
    assert set(scores(db_path)) == {"site-0", "site-1"}


@pytest.mark.crawl
def test_analysing_while_two_workers_write_stores_what_one_analysis_at_the_end_does(
        loopback_site, tmp_path):
    # Two workers commit targets while the scan process writes cross-checks and scores: no
    # 'database is locked', and the same rows as analysing all of them afterwards.
    sites = [loopback_site(site_pages(f"s{i}")) for i in range(12)]
    path = write_targets(tmp_path, [site.url for site in sites])
    db_path = tmp_path / "r.db"
    events = Scored()
    outcome = run_scan(db_path, load_targets(path), str(path),
                       ScanOptions(allow_private=True, workers=2, batch_size=3), events=events)
    assert outcome.status == "complete" and len(outcome.scores) == 12
    assert sorted(events.scored) == sorted(events.finished) == sorted(f"site-{i}" for i in range(12))

    db = store.open_db(db_path)
    stored = stored_analysis(db, outcome.scan_id)
    assert len(stored["crosschecks"]) >= 12  # each has an undisclosed tracker at least
    again = analyse_scan(db, outcome.scan_id, load_targets(path), TrackerList.load())
    assert stored_analysis(db, outcome.scan_id) == stored
    # (the rows' explanations name this run's cross-check finding ids; those stored do not)
    assert [(r["target_id"], r["score"], r["status"]) for r in again] == \
           [(r["target_id"], r["score"], r["status"]) for r in outcome.scores]


def stored_analysis(db, scan_id):
    return {
        "crosschecks": sorted(tuple(r) for r in db.execute(
            "SELECT target_id, rule_id, evidence FROM findings WHERE scan_id = ? "
            "AND source = 'crosscheck'", [scan_id])),
        "scores": sorted(tuple(r) for r in db.execute(
            "SELECT target_id, score, grade, status, explanation FROM scores WHERE scan_id = ?",
            [scan_id])),
    }


def test_the_crosschecks_of_targets_not_analysed_again_are_dropped(db):
    # analyse_scan replaces the cross-checks of the targets given, and drops those of any other
    # target of the scan (one no longer done, or gone from the targets file), as before.
    scan_id = store.start_scan(db, rules_version="x", targets_file="t.yaml", options={})
    rows = [{"scan_id": scan_id, "target_id": target_id, "source": "crosscheck",
             "rule_id": "crosscheck.old", "category": "sharing", "severity": "high",
             "polarity": "risk", "evidence": "old"} for target_id in ("kept", "gone")]
    db["scan_findings"].insert_all(rows)
    target = Target(id="kept", name="Kept", audience="child-directed",
                    homepage="http://127.0.0.1:9/")
    analyse_scan(db, scan_id, [target], TrackerList.load())
    assert db.execute("SELECT target_id, rule_id FROM findings WHERE scan_id = ? AND "
                      "source = 'crosscheck'", [scan_id]).fetchall() == []
    assert [r["target_id"] for r in db["scores"].rows_where("scan_id = ?", [scan_id])] == ["kept"]



@pytest.mark.crawl
def test_an_analysis_error_during_the_crawl_leaves_the_target_for_the_end(loopback_site, tmp_path,
                                                                           monkeypatch):
    # A failure while the crawl goes on (a lock wait that timed out, say) must not stop the crawl:
    # the target is analysed again after it, as before analysis overlapped the crawl.
    from scanner import analysis

    real = analysis.analyse_target
    calls = []

    def fails_first(db, scan_id, target, tracker_list):
        calls.append(target.id)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(db, scan_id, target, tracker_list)

    monkeypatch.setattr(analysis, "analyse_target", fails_first)
    db_path = tmp_path / "r.db"
    sites = [loopback_site(site_pages(f"s{i}")) for i in range(2)]
    path = write_targets(tmp_path, [site.url for site in sites])
    outcome = run_scan(db_path, load_targets(path), str(path), ScanOptions(allow_private=True))

    assert outcome.status == "complete" and outcome.not_done == []
    assert set(scores(db_path)) == {"site-0", "site-1"}
    assert sorted(calls) == sorted([calls[0], *{"site-0", "site-1"}])  # the failed one again
