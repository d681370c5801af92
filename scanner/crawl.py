"""Run one scan: targets are crawled in batches, each batch by a worker process of its own.

A worker runs both spiders (policy + site, or browser) over its batch in one Scrapy process and
exits; only then are its targets marked done in `scan_targets`. So a crash or a Ctrl-C loses at
most the batches in flight, `--resume` crawls just the targets not done, and `--workers N` crawls
N batches at once (one Twisted reactor per process, as Scrapy requires).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scanner import store
from scanner.analysis import analyse_scan
from scanner.matching import rules_version
from scanner.options import DEFAULT_OPTIONS, ScanOptions
from scanner.targets import Target
from scanner.trackers import TrackerList

# Rows a batch left behind when it did not finish: deleted before its targets are crawled again.
PER_TARGET_TABLES = ("fetches", "findings", "third_parties", "cookies")


def crawl_settings(db_path: str, scan_id: int, options: ScanOptions, *, fast: bool):
    """The project's Scrapy settings with this scan's options applied."""
    from scrapy.utils.project import get_project_settings

    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "scanner.settings")
    settings = get_project_settings()
    settings.set("SCANNER_DB", str(db_path))
    settings.set("SCANNER_SCAN_ID", scan_id)
    settings.set("SCANNER_ALLOW_PRIVATE", options.allow_private)
    settings.set("SCANNER_LOOPBACK_ONLY", options.loopback_only)
    settings.set("SCANNER_MAX_PAGES", options.max_pages)
    settings.set("SCANNER_MAX_POLICY_PAGES", options.max_policy_pages)
    settings.set("LOG_LEVEL", options.log_level)
    if options.ignore_robots:
        settings.set("ROBOTSTXT_OBEY", False)
    if fast:
        # Loopback sites of our own: no politeness delay needed.
        settings.set("DOWNLOAD_DELAY", 0)
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", 8)
        settings.set("DOWNLOAD_TIMEOUT", 10)
        settings.set("RETRY_TIMES", 0)
    # --browser: the browser spider applies scanner.browser.browser_settings() to its own
    # crawler (update_settings), so the policy spider keeps plain HTTP and no second browser.
    return settings


def all_on_loopback(targets) -> bool:
    """True when every URL of every target is on loopback: our own test or demo sites."""
    from scanner.safety import loopback_problem

    return all(loopback_problem(url) is None
               for t in targets for url in [t.homepage, *t.policy_urls])


def crawl_batch(job: dict) -> str:
    """Crawl one batch of targets in this process (a worker); return the crawl's finish reason."""
    from scrapy.crawler import CrawlerProcess

    from spiders.policy import PolicySpider
    from spiders.site import SiteSpider

    targets = [Target(**t) for t in job["targets"]]
    options = ScanOptions.from_dict(job["options"])
    page_spider = SiteSpider
    if options.browser:
        from spiders.browser import BrowserSpider as page_spider
    settings = crawl_settings(job["db"], job["scan_id"], options,
                              fast=options.allow_private and all_on_loopback(targets))
    process = CrawlerProcess(settings)
    crawlers = [process.create_crawler(PolicySpider), process.create_crawler(page_spider)]
    for crawler in crawlers:
        process.crawl(crawler, targets=targets)
    process.start()
    reasons = {c.stats.get_value("finish_reason") for c in crawlers}
    return "finished" if reasons == {"finished"} else ",".join(sorted(map(str, reasons)))


def worker_main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    return 0 if crawl_batch(job) == "finished" else 3


def _batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _mark(db, scan_id: int, target_ids, status: str) -> None:
    with db.conn:
        for target_id in target_ids:
            db["scan_targets"].upsert(
                {"scan_id": scan_id, "target_id": target_id, "status": status,
                 "finished_at": store.now() if status != "pending" else None},
                pk=("scan_id", "target_id"),
            )


def _forget_partial_rows(db, scan_id: int, target_ids) -> None:
    """Rows of targets whose batch never finished: they are crawled again from scratch."""
    with db.conn:
        for table in PER_TARGET_TABLES:
            for target_id in target_ids:
                db.execute(f"DELETE FROM {table} WHERE scan_id = ? AND target_id = ?",
                           [scan_id, target_id])


def resumable_scan(db) -> dict | None:
    """The latest scan that did not complete, if it is the latest scan of the database; its
    options as stored (a dict: `ScanOptions.resuming` merges them with the resuming run's)."""
    row = db.execute("SELECT id, status, options FROM scans ORDER BY id DESC LIMIT 1").fetchone()
    if row and row[1] in ("running", "interrupted"):
        return {"id": row[0], "status": row[1], "options": json.loads(row[2] or "{}")}
    return None


def run_scan(db_path, targets, targets_file: str, options: ScanOptions = DEFAULT_OPTIONS, *,
             resume_scan_id: int | None = None, progress=None) -> tuple[int, list[dict]]:
    """Crawl every target once (or, resuming, every target not done); return scan id and scores.

    A resumed scan is crawled with the options given here, which the caller restores from it."""
    db = store.open_db(db_path)
    if resume_scan_id is None:
        scan_id = store.start_scan(db, rules_version=rules_version(), targets_file=targets_file,
                                   options=options.to_dict())
        done = set()
    else:
        scan_id = resume_scan_id
        db["scans"].update(scan_id, {"status": "running", "finished_at": None,
                                     "options": json.dumps(options.to_dict(), sort_keys=True)})
        done = {r["target_id"] for r in db["scan_targets"].rows_where(
            "scan_id = ? AND status = 'done'", [scan_id])}
    store.upsert_targets(db, targets, scan_id)
    pending = [t for t in targets if t.id not in done]
    _forget_partial_rows(db, scan_id, [t.id for t in pending])
    _mark(db, scan_id, [t.id for t in pending], "pending")
    db.close()

    status = _run_batches(db_path, scan_id, pending, options, progress)
    db = store.open_db(db_path)
    finished = {r["target_id"] for r in db["scan_targets"].rows_where(
        "scan_id = ? AND status = 'done'", [scan_id])}
    scores = analyse_scan(db, scan_id, [t for t in targets if t.id in finished], TrackerList.load())
    if status == "complete" and len(finished) < len(targets):
        status = "interrupted"
    store.finish_scan(db, scan_id, status)
    db.close()
    return scan_id, scores


def _run_batches(db_path, scan_id, pending, options: ScanOptions, progress) -> str:
    """Start a worker per batch, at most `options.workers` at once; 'complete' or 'interrupted'."""
    queue = _batches(pending, options.batch_size)
    running: list[tuple[subprocess.Popen, list[Target], Path]] = []
    status = "complete"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="scanner-jobs-") as jobs_dir:
        try:
            while queue or running:
                while queue and len(running) < options.workers:
                    batch = queue.pop(0)
                    job_path = Path(jobs_dir) / f"batch-{len(queue)}-{time.monotonic_ns()}.json"
                    job_path.write_text(json.dumps({
                        "db": str(db_path), "scan_id": scan_id, "options": options.to_dict(),
                        "targets": [dataclasses.asdict(t) for t in batch],
                    }), encoding="utf-8")
                    proc = subprocess.Popen([sys.executable, "-m", "scanner.crawl", str(job_path)],
                                            env=env)
                    running.append((proc, batch, job_path))
                for entry in list(running):
                    proc, batch, _ = entry
                    if proc.poll() is None:
                        continue
                    running.remove(entry)
                    db = store.open_db(db_path)
                    _mark(db, scan_id, [t.id for t in batch],
                          "done" if proc.returncode == 0 else "failed")
                    db.close()
                    if proc.returncode != 0:
                        status = "interrupted"
                    if progress:
                        progress(len(batch))
                time.sleep(0.05)
        except KeyboardInterrupt:
            for proc, _, _ in running:
                proc.terminate()
            for proc, _, _ in running:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            status = "interrupted"
    return status


if __name__ == "__main__":  # a worker: python -m scanner.crawl JOB.json
    sys.exit(worker_main(sys.argv[1]))
