"""Scans survive interruption: batches of targets in worker processes, targets committed as
they finish, and --resume."""

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils
import yaml

from helpers import run_cli
from scanner import store
from scanner.crawl import resumable_scan
from scanner.exitcodes import ExitCode
from scanner.options import DEFAULT_OPTIONS, ScanOptions


def targets_file(tmp_path, site, n):
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": [
        {"id": f"app-{i}", "audience": "child-directed", "homepage": f"{site.url}/app{i}/"}
        for i in range(n)
    ]}))
    return path


def pages(n):
    out = {}
    for i in range(n):
        out[f"/app{i}/"] = f'<html><body><a href="/app{i}/privacy">Privacy Policy</a></body></html>'
        out[f"/app{i}/privacy"] = ("<html><body><main><h1>Privacy</h1><p>We may sell your personal "
                                   f"information to data brokers. App {i}.</p></main></body></html>")
    return out


@pytest.mark.crawl
def test_targets_are_crawled_in_batches_by_parallel_workers(loopback_site, tmp_path):
    site = loopback_site(pages(5))
    db_path = tmp_path / "r.db"
    run_cli("scan", targets_file(tmp_path, site, 5), "--db", db_path, "--allow-private",
            "--batch-size", "2", "--workers", "2")
    db = sqlite_utils.Database(db_path)
    (scan,) = db["scans"].rows
    assert scan["status"] == "complete"
    assert {r["status"] for r in db["scan_targets"].rows} == {"done"}
    assert db["scores"].count == 5
    # Each of the five distinct policies stored once, with its sale finding.
    assert db["documents"].count == 5
    assert db["findings"].count_where("category = 'sale' AND polarity = 'risk'") == 5


@pytest.mark.crawl
def test_resume_crawls_only_targets_not_done_and_drops_their_partial_rows(loopback_site, tmp_path):
    site = loopback_site(pages(3))
    path = targets_file(tmp_path, site, 3)
    db_path = tmp_path / "r.db"
    # An interrupted scan as a killed process leaves it: app-0 done, app-1 half-crawled, app-2 not.
    db = store.open_db(db_path)
    # Options as an older version stored them: a subset of today's.
    scan_id = store.start_scan(db, rules_version="x", targets_file=str(path),
                               options={"allow_private": True, "max_pages": 1})
    db["scan_targets"].insert_all([
        {"scan_id": scan_id, "target_id": "app-0", "status": "done"},
        {"scan_id": scan_id, "target_id": "app-1", "status": "pending"},
    ], pk=("scan_id", "target_id"))
    db["fetch_rows"].insert_all([
        {"scan_id": scan_id, "target_id": "app-0", "url": f"{site.url}/app0/", "kind": "page",
         "status": 200, "error": None, "discovered_by": "kept"},
        {"scan_id": scan_id, "target_id": "app-1", "url": f"{site.url}/app1/", "kind": "page",
         "status": 200, "error": None, "discovered_by": "partial"},
    ])
    db.close()
    assert resumable_scan(store.open_db(db_path))["id"] == scan_id

    site.requests.clear()
    result = run_cli("scan", path, "--db", db_path, "--resume")
    assert f"resuming scan {scan_id}" in result.stderr
    db = sqlite_utils.Database(db_path)
    assert db["scans"].count == 1
    assert db["scans"].get(scan_id)["status"] == "complete"
    assert not any(p.startswith("/app0/") for p in site.requests), "a done target was re-crawled"
    assert any(p.startswith("/app2/") for p in site.requests)
    assert db["fetches"].count_where("discovered_by = 'kept'") == 1
    assert db["fetches"].count_where("discovered_by = 'partial'") == 0
    assert {r["status"] for r in db["scan_targets"].rows} == {"done"}
    # The resumed scan kept its original options: allow_private (so loopback was allowed) and
    # max_pages 1 (so the site spider did not follow app-2's link to its policy page).
    options = json.loads(db["scans"].get(scan_id)["options"])
    assert options["allow_private"] is True and options["max_pages"] == 1
    assert options["max_policy_pages"] == DEFAULT_OPTIONS.max_policy_pages
    assert db["fetches"].count_where(
        "target_id = 'app-2' AND kind = 'page' AND discovered_by = 'link'") == 0
    assert db["scores"].count == 3


def test_options_round_trip_through_their_json():
    options = ScanOptions(allow_private=True, max_pages=3, max_policy_pages=2, browser=True,
                          workers=4, batch_size=7, log_level="ERROR")
    assert ScanOptions.from_dict(json.loads(json.dumps(options.to_dict()))) == options
    # A bare `scrapy crawl` records only its spider's name: the rest are the defaults.
    assert ScanOptions.from_dict({"spider": "policy"}) == DEFAULT_OPTIONS


def test_resuming_restores_what_is_collected_but_not_how_the_run_executes():
    stored = ScanOptions(max_pages=2, ignore_robots=True, workers=8, batch_size=3).to_dict()
    now = ScanOptions(max_pages=9, loopback_only=True, workers=2, batch_size=10, log_level="INFO")
    resumed = now.resuming(stored)
    assert (resumed.max_pages, resumed.ignore_robots) == (2, True)
    assert (resumed.workers, resumed.batch_size, resumed.log_level) == (2, 10, "INFO")
    assert resumed.loopback_only, "confinement asked for now must not be dropped on resume"
    assert ScanOptions().resuming(ScanOptions(loopback_only=True).to_dict()).loopback_only


@pytest.mark.crawl
def test_resume_without_unfinished_scan_starts_a_new_one(loopback_site, tmp_path):
    site = loopback_site(pages(1))
    path = targets_file(tmp_path, site, 1)
    db_path = tmp_path / "r.db"
    run_cli("scan", path, "--db", db_path, "--allow-private")
    result = run_cli("scan", path, "--db", db_path, "--allow-private", "--resume")
    assert "starting a new one" in result.stderr
    assert sqlite_utils.Database(db_path)["scans"].count == 2


def worker_pids(db_path) -> list[int]:
    """The worker processes of the scan writing to db_path (not those of another test's scan)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                if b"scanner.crawl" not in cmdline or b"-m" not in cmdline:
                    continue
                job = json.loads(Path(cmdline[cmdline.index(b"scanner.crawl") + 1].decode()).read_text())
            except (OSError, ValueError, IndexError):
                continue
            if Path(job.get("db", "")).resolve() == Path(db_path).resolve():
                pids.append(int(proc.name))
    return pids


@pytest.mark.crawl
def test_a_killed_worker_leaves_the_scan_interrupted_and_resumable(loopback_site, tmp_path):
    release = threading.Event()
    served = pages(2)
    slow_home = served["/app0/"]

    def slow_page():
        release.wait(20)  # hold the worker mid-crawl until the test has killed it
        return slow_home

    site = loopback_site({**served, "/app0/": slow_page})
    path = targets_file(tmp_path, site, 2)
    db_path = tmp_path / "r.db"
    killed = []

    def kill_worker():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed:
            if "/app0/" in site.requests:
                for pid in worker_pids(db_path):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)
        release.set()

    killer = threading.Thread(target=kill_worker)
    killer.start()
    result = run_cli("scan", path, "--db", db_path, "--allow-private", check=False)
    killer.join()
    assert killed, "the worker was never seen"
    assert result.returncode == ExitCode.INTERRUPTED, result.stderr
    db = sqlite_utils.Database(db_path)
    assert db["scans"].get(1)["status"] == "interrupted"
    progress = {r["target_id"]: r["status"] for r in db["scan_targets"].rows}
    assert progress["app-0"] == "failed"
    assert progress["app-1"] in ("done", "failed")  # done if it finished before the kill
    # Nothing is graded from a half-crawled target; one that finished is.
    assert {r["target_id"] for r in db["scores"].rows} == {
        t for t, status in progress.items() if status == "done"}
    assert re.search(r"app-0\s.*not scored \(failed\)", result.stdout), result.stdout

    site.pages["/app0/"] = slow_home
    run_cli("scan", path, "--db", db_path, "--resume")
    assert db["scans"].get(1)["status"] == "complete"
    assert {r["target_id"]: r["status"] for r in db["scores"].rows} == {
        "app-0": "scored", "app-1": "scored"}
