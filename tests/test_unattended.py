"""Scans a scheduler can trust: exit codes, one scan per database, targets committed as they
finish, and a SIGKILLed scan that resumes to the same rows as a scan done in one go."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
import yaml

from helpers import ROOT, SCANNER, free_port, run_cli, subprocess_env
from scanner.exitcodes import ExitCode
from scanner.lock import lock_holder

pytestmark = pytest.mark.crawl

PER_TARGET_TABLES = ("fetches", "findings", "third_parties", "cookies", "scores")
SITES = 8


def slow_sites(loopback_site, n=SITES, step=0.5, held=None, free=0):
    """n sites whose homepage answers after 0.3 + i * step seconds: targets finish one by one.
    With held (a threading.Event), only the first `free` sites answer on their own; the others'
    homepages wait until the test sets held, so a scan stopped before then cannot have finished
    them however slow the machine is. Each site has a policy, a tracker script and a cookie, so
    every per-target table gets rows."""
    sites = []
    for i in range(n):
        wait = held if held is not None and i >= free else None
        home = (f'<html><head><script src="https://www.googletagmanager.com/gtm.js?id=GTM-{i}">'
                f'</script></head><body><a href="/privacy">Privacy Policy</a>'
                f'<a href="/about">About</a></body></html>')

        def slow_home(body=home, delay=0.3 + i * step, cookie=f"visitor=v{i}; Max-Age=3600",
                      wait=wait):
            if wait is not None:
                wait.wait(timeout=300)
            time.sleep(delay)
            return (200, {"Set-Cookie": cookie}, body)

        sites.append(loopback_site({
            "/": slow_home,
            "/about": "<html><body><p>About us.</p></body></html>",
            "/privacy": ("<html><body><main><h1>Privacy Policy</h1><p>We may sell your personal "
                         f"information to data brokers. We use cookies for advertising. App {i}."
                         "</p></main></body></html>"),
        }))
    return sites


def write_targets(tmp_path, homepages, name="targets.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"targets": [
        {"id": f"app-{i}", "audience": "child-directed", "homepage": url}
        for i, url in enumerate(homepages)
    ]}))
    return path


def start_scan(*args) -> subprocess.Popen:
    return subprocess.Popen(SCANNER + [str(a) for a in args], cwd=ROOT, env=subprocess_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def query(db_path, sql, params=()):
    with sqlite3.connect(db_path, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def wait_for(condition, timeout=120, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def done_targets(db_path) -> set[str]:
    if not db_path.exists():
        return set()
    try:
        return {r[0] for r in query(db_path, "SELECT target_id FROM scan_targets "
                                             "WHERE status = 'done'")}
    except sqlite3.OperationalError:  # the scan has not created its tables yet
        return set()


def rows_per_target(db_path) -> dict:
    return {table: dict(query(db_path, f"SELECT target_id, COUNT(*) FROM {table} "
                                       "GROUP BY target_id"))
            for table in PER_TARGET_TABLES}


def test_sigkilled_scan_resumes_to_the_rows_of_a_scan_done_in_one_go(loopback_site, tmp_path):
    held = threading.Event()
    sites = slow_sites(loopback_site, held=held, free=2)
    targets = write_targets(tmp_path, [f"{s.url}/" for s in sites])
    db_path = tmp_path / "killed.db"
    scan = start_scan("scan", targets, "--db", db_path, "--allow-private")  # one batch of 8
    try:
        done_before_kill = wait_for(lambda: len(done_targets(db_path)) >= 2 and
                                    done_targets(db_path), what="two targets done")
    finally:
        scan.send_signal(signal.SIGKILL)
        scan.communicate(timeout=60)
        held.set()
    assert len(done_before_kill) < SITES, "the scan ended before it could be killed"
    # Its worker stops with it; the kernel then frees the lock.
    wait_for(lambda: lock_holder(db_path) is None, what="the lock to be free")
    assert query(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert query(db_path, "SELECT id, status FROM scans") == [(1, "running")]
    done_at_stop = done_targets(db_path)
    assert done_before_kill <= done_at_stop and len(done_at_stop) < SITES
    for site in sites:
        site.requests.clear()

    resumed = run_cli("scan", targets, "--db", db_path, "--resume")
    assert "scan 1 was left running by a process that is gone: marked interrupted" in resumed.stderr
    assert "resuming scan 1 (interrupted)" in resumed.stderr
    assert "cleared a stale lock" in resumed.stderr
    assert query(db_path, "SELECT id, status FROM scans") == [(1, "complete")]
    assert done_targets(db_path) == {f"app-{i}" for i in range(SITES)}
    for i, site in enumerate(sites):
        crawled_again = bool(site.requests)
        assert crawled_again == (f"app-{i}" not in done_at_stop), f"app-{i}: {site.requests}"

    one_go = tmp_path / "one-go.db"
    run_cli("scan", targets, "--db", one_go, "--allow-private")
    expected = rows_per_target(one_go)
    assert all(len(expected[table]) == SITES for table in PER_TARGET_TABLES), expected
    assert rows_per_target(db_path) == expected


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_scan_exits_interrupted_keeps_finished_targets_and_lists_pending_ones(
        loopback_site, tmp_path, stop):
    held = threading.Event()
    sites = slow_sites(loopback_site, n=6, step=1.0, held=held, free=1)
    targets = write_targets(tmp_path, [f"{s.url}/" for s in sites])
    db_path, log_file = tmp_path / "r.db", tmp_path / "scan.log"
    scan = start_scan("scan", targets, "--db", db_path, "--allow-private", "--log-file", log_file)
    try:
        wait_for(lambda: done_targets(db_path), what="a target done")
    finally:
        scan.send_signal(stop)
        held.set()  # the held homepages answer now: the stopping scan must not wait on them
        stdout, stderr = scan.communicate(timeout=120)
    assert scan.returncode == ExitCode.INTERRUPTED, stderr
    done = done_targets(db_path)
    assert 1 <= len(done) < 6
    assert query(db_path, "SELECT status FROM scans") == [("interrupted",)]
    assert {r[0] for r in query(db_path, "SELECT target_id FROM scores")} == done
    pending = {f"app-{i}" for i in range(6)} - done
    for target_id in pending:
        assert re.search(rf"{target_id}\s.*not scored \((pending|failed)\)", stdout), stdout
    assert "targets not scored; run again with --resume" in stdout
    # Off a terminal: one line per target; the log file has them timestamped, and the end.
    first = sorted(done)[0]
    assert re.search(rf"^target \d/6 done: {first} \(\d+\.\d s\)$", stderr, re.M), stderr
    log = log_file.read_text()
    assert re.search(rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ target \d/6 done: {first} ", log, re.M)
    assert log.strip().splitlines()[-1].endswith("exit 3 (interrupted: targets are still "
                                                 "pending; run again with --resume)")


def test_a_scan_of_only_unreachable_targets_exits_4(tmp_path):
    ports = [free_port(), free_port()]  # nothing listens there
    targets = write_targets(tmp_path, [f"http://127.0.0.1:{p}/" for p in ports])
    db_path, log_file = tmp_path / "r.db", tmp_path / "scan.log"
    result = run_cli("scan", targets, "--db", db_path, "--allow-private", "--log-file", log_file,
                     check=False)
    assert result.returncode == ExitCode.ALL_UNREACHABLE, result.stderr
    assert query(db_path, "SELECT status FROM scans") == [("complete",)]
    assert {r[0] for r in query(db_path, "SELECT status FROM scores")} == {"unreachable"}
    assert re.search(r"^target 2/2 done: app-\d \(\d+\.\d s, unreachable\)$", result.stderr, re.M)
    assert "2/2 targets done, 2 unreachable, 0 not scored; exit 4" in log_file.read_text()


def test_a_second_scan_is_refused_naming_the_running_one_or_waits_for_it(loopback_site, tmp_path):
    sites = slow_sites(loopback_site, n=2, step=2.0)
    targets = write_targets(tmp_path, [f"{s.url}/" for s in sites])
    db_path = tmp_path / "r.db"
    first = start_scan("scan", targets, "--db", db_path, "--allow-private")
    try:
        holder = wait_for(lambda: (lock_holder(db_path) or {}).get("scan_id") and
                          lock_holder(db_path), what="the first scan to hold the lock")
        refused = run_cli("scan", targets, "--db", db_path, "--allow-private", check=False)
        assert refused.returncode == ExitCode.DATABASE_LOCKED
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith(f"Error: {db_path} is held by scan 1 (pid {first.pid}")
        assert holder["scan_id"] == 1
        waited = run_cli("scan", targets, "--db", db_path, "--allow-private", "--wait",
                         check=False)
        assert first.wait(timeout=10) == 0  # the waiter could only start once the first ended
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    assert waited.returncode == 0, waited.stderr
    assert "waiting: " in waited.stderr and "held by scan 1" in waited.stderr
    assert query(db_path, "SELECT id, status FROM scans") == [(1, "complete"), (2, "complete")]
    assert not query(db_path, "SELECT 1 FROM scans s1 JOIN scans s2 ON s2.id = s1.id + 1 "
                              "WHERE s2.started_at < s1.finished_at")


@pytest.mark.parametrize("batch_size", ["1", "50"])
def test_targets_are_done_one_by_one_whatever_the_batch_size(loopback_site, tmp_path, batch_size):
    # Seconds apart: finished_at has a resolution of one second.
    sites = slow_sites(loopback_site, n=3, step=2.0)
    targets = write_targets(tmp_path, [f"{s.url}/" for s in sites])
    db_path = tmp_path / "r.db"
    # One worker: the order is its crawl's (two workers' start-ups may differ by seconds under load)
    run_cli("scan", targets, "--db", db_path, "--allow-private", "--batch-size", batch_size,
            "--workers", "1")
    finished = [r[0] for r in query(db_path, "SELECT finished_at FROM scan_targets "
                                             "ORDER BY target_id")]
    assert all(finished) and finished == sorted(finished)
    assert finished[0] < finished[-1], "targets must be committed as they finish, not together"


class FakeCrawler:
    def __init__(self):
        from scrapy.signalmanager import SignalManager

        self.signals = SignalManager()


def test_a_spider_finishes_a_target_when_its_requests_and_items_are_through():
    from scrapy import Request, signals
    from scrapy.http import HtmlResponse

    from scanner.items import FetchItem
    from scanner.targets import Target
    from spiders.base import TargetTracker, target_finished
    from spiders.site import SiteSpider

    targets = [Target(id=f"t{i}", name=f"T{i}", audience="mixed",
                      homepage=f"http://127.0.0.1:1/{i}") for i in range(3)]
    spider, crawler = SiteSpider(targets=targets), FakeCrawler()
    tracker = TargetTracker(spider, crawler)
    finished = []

    def on_finished(spider, target_id, started):
        finished.append(target_id)

    crawler.signals.connect(on_finished, signal=target_finished)

    def schedule(target, path):
        request = Request(target.homepage + path, meta={"target": target},
                          callback=lambda response: iter(outputs.pop(0)))
        crawler.signals.send_catch_log(signals.request_scheduled, request=request, spider=spider)
        return request

    def answer(request):
        response = HtmlResponse(request.url, body=b"<html></html>", request=request)
        return list(request.callback(response))

    item = FetchItem(target_id="t0", url=targets[0].homepage, kind="page")
    follow_up = Request(targets[0].homepage + "/more", meta={"target": targets[0]},
                        callback=lambda response: iter(()))
    outputs = [[item, follow_up]]
    first = schedule(targets[0], "")
    assert finished == []  # t0 owes its request; the spider has not moved past it yet
    schedule(targets[2], "")
    assert finished == ["t1"]  # passed over with nothing to do
    yielded = answer(first)
    assert yielded == [item, follow_up] and finished == ["t1"]  # owes its item and follow-up
    retry = follow_up.copy()  # a retry or redirect copy stands for the same request
    crawler.signals.send_catch_log(signals.request_scheduled, request=retry, spider=spider)
    crawler.signals.send_catch_log(signals.item_scraped, item=item, response=None, spider=spider)
    assert finished == ["t1"]
    answer(retry)
    assert finished == ["t1", "t0"]
    crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="shutdown")
    assert finished == ["t1", "t0"]  # stopped early: t2 is not finished
    crawler.signals.send_catch_log(signals.spider_closed, spider=spider, reason="finished")
    assert finished == ["t1", "t0", "t2"]
    assert tracker.owed["t0"] == 0
