"""Run one scan: targets are crawled in batches, each batch by a worker process of its own.

A worker runs its steps over its batch (the app step: APKs analysed; then the crawl: the store
spider for targets with an app, then the scan spider, or with --browser the policy and browser
spiders, in one Scrapy process) and sends what it stores over a pipe to the scan process
(scanner.store_writer): documents and raw bodies as they come, and each target's rows the moment
every part of the worker has finished it (scanner.extensions.TargetCompletion). The scan process
writes them, a target's rows with its 'done' mark in `scan_targets` in one transaction, and
analyses the target. So a crash, a SIGKILL or a Ctrl-C loses at most the targets in flight,
`--resume` crawls just the targets not done, and `--workers N` crawls N batches at once (one
Twisted reactor per process, as Scrapy requires).

Longer than 500 lines because both ends of the worker protocol (the job file, the pipe) live
here; the worker side (CrawlStep, AppStep, crawl_batch, worker_main) is the seam to split out.
"""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Only what both processes need: a worker (`python -m scanner.crawl`) imports Scrapy and the
# spiders, the scan process the store and the analysis, each in the functions that use them.
from scanner.options import DEFAULT_OPTIONS, ScanOptions
from scanner.targets import Target

# The exit status of a worker whose batch did not finish (Scrapy stopped early).
WORKER_UNFINISHED = 3
# How long a worker asked to stop (SIGTERM) may take before it is killed.
WORKER_STOP_SECONDS = 20


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
    settings.set("SCANNER_BROWSER", options.browser)  # the policy spider's JS-built-policy fallback
    settings.set("LOG_LEVEL", options.log_level)
    # The crawl is given its spider classes: Scrapy need not import every spider module (the
    # browser spider's Playwright among them: ~0.25 s and ~6 MB) to list them by name.
    settings.set("SPIDER_MODULES", [])
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


# ---- the worker: one batch ---------------------------------------------------------------

@dataclasses.dataclass
class Batch:
    """What a worker's steps share. Each step tells `completion.part_finished(part, target_id)`
    for every target of the batch under each name its `parts` returned (also for targets it has
    nothing to do for); a target is committed as done once every part has finished it."""

    db_path: str
    scan_id: int
    targets: list[Target]
    options: ScanOptions
    completion: object  # scanner.extensions.TargetCompletion


class CrawlStep:
    """The scan spider (the policy and site spiders' jobs in one crawler) over the batch, or
    with --browser the policy spider and the browser spider, in one Scrapy process; each
    spider finishes a target with the `target_finished` signal."""

    def spiders(self, options: ScanOptions) -> list:
        if options.browser:
            from spiders.browser import BrowserSpider
            from spiders.policy import PolicySpider

            return [PolicySpider, BrowserSpider]
        from spiders.scan import ScanSpider

        return [ScanSpider]

    def parts(self, options: ScanOptions) -> list[str]:
        return ["store"] + [spider.name for spider in self.spiders(options)]

    def run(self, batch: Batch) -> str:
        """Crawl; 'finished', or the crawlers' finish reasons when one stopped early.

        Targets with an `android` mapping have their store listing read first, so the policy
        spider also reads the privacy policy the listing links to."""
        from scrapy import signals
        from scrapy.crawler import CrawlerProcess

        from scanner.items import StoreListingItem
        from scanner.shared_downloads import SharedDownloads
        from spiders.policy import PolicySpider
        from spiders.store import StoreSpider

        settings = crawl_settings(batch.db_path, batch.scan_id, batch.options,
                                  fast=batch.options.allow_private and all_on_loopback(batch.targets))
        process = CrawlerProcess(settings)
        crawlers = []
        # With --browser, the policy and browser crawlers fetch robots.txt once per host.
        shared_downloads = SharedDownloads() if batch.options.browser else None

        def crawl(spider, **kwargs):
            crawler = process.create_crawler(spider)
            crawlers.append(crawler)
            batch.completion.connect(crawler)
            if shared_downloads is not None:
                shared_downloads.connect(crawler)
            return process.crawl(crawler, targets=batch.targets, **kwargs)

        def crawl_sites(store_policy_urls: dict):
            for spider in self.spiders(batch.options):
                extra = {"store_policy_urls": store_policy_urls} \
                    if issubclass(spider, PolicySpider) else {}
                crawl(spider, **extra)

        if any(target.android for target in batch.targets):
            store_policy_urls: dict[str, str] = {}

            def keep_policy_url(item, spider):
                if isinstance(item, StoreListingItem) and item.privacy_policy_url \
                        and item.privacy_policy_url.startswith(("http://", "https://")):
                    store_policy_urls[item.target_id] = item.privacy_policy_url

            listings = crawl(StoreSpider)
            # Held by this frame for the whole crawl: signals keep handlers weakly.
            crawlers[-1].signals.connect(keep_policy_url, signal=signals.item_scraped)
            # Crawls started from this callback are still awaited by process.start().
            listings.addCallback(lambda _: crawl_sites(store_policy_urls))
        else:
            for target in batch.targets:
                batch.completion.part_finished("store", target.id)
            crawl_sites({})
        process.start()
        reasons = {c.stats.get_value("finish_reason") for c in crawlers}
        return "finished" if reasons == {"finished"} else ",".join(sorted(map(str, reasons)))


class AppStep:
    """The APKs of the batch's targets that name one, analysed before their crawl
    (scanner/app_scan.py); a bad APK is recorded with its reason and the batch goes on."""

    def parts(self, options: ScanOptions) -> list[str]:
        return ["apps"]

    def run(self, batch: Batch) -> str:
        from scanner.app_scan import run_app_step

        run_app_step(batch.db_path, batch.scan_id, batch.targets, batch.options)
        for target in batch.targets:
            batch.completion.part_finished("apps", target.id)
        return "finished"


# The steps a worker runs over its batch, in order; a step that does not finish stops the batch.
BATCH_STEPS: list = [AppStep(), CrawlStep()]


def crawl_batch(job: dict, sink=None) -> str:
    """Run every step over one batch in this process (a worker); 'finished' or why not.

    What the crawl stores goes to `sink` (a scanner.store_writer.Forwarder to the scan
    process); without one it is written here."""
    from scanner import store
    from scanner.extensions import TargetCompletion
    from scanner.store_writer import StoreWriter

    targets = [Target(**t) for t in job["targets"]]
    options = ScanOptions.from_dict(job["options"])
    db = store.open_db(job["db"]) if sink is None else None
    try:
        parts = [part for step in BATCH_STEPS for part in step.parts(options)]
        completion = TargetCompletion(sink or StoreWriter(db, job["db"]),
                                      job["scan_id"], [t.id for t in targets], parts)
        batch = Batch(job["db"], job["scan_id"], targets, options, completion)
        for step in BATCH_STEPS:
            reason = step.run(batch)
            if reason != "finished":
                return reason
        return "finished"
    finally:
        if db is not None:
            db.close()


def _die_with_parent(parent_pid: int | None) -> None:
    """A worker whose scan process is killed (even by SIGKILL) gets SIGTERM and stops, so no
    orphan goes on writing to a scan nobody finishes. Linux only; elsewhere it runs on."""
    if parent_pid is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        sys.exit(WORKER_UNFINISHED)


# What the scan process writes on a worker's start pipe once the worker's job file is written.
START = b"go"

# What a worker imports before its job comes (`--start-fd`): Scrapy, the scan's spiders and
# every component of the project's settings, so that a worker started early has them ready.
WARM_MODULES = ("scrapy.crawler", "spiders.scan", "spiders.store", "scanner.extensions",
                "scanner.items", "scanner.store_writer")


def _warm_up() -> None:
    """Import what every crawl of a batch imports (the --browser crawl imports more when run)."""
    import importlib

    from scrapy.utils.misc import load_object
    from scrapy.utils.project import get_project_settings

    for module in WARM_MODULES:
        importlib.import_module(module)
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "scanner.settings")
    settings = get_project_settings()
    for name in ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "ITEM_PIPELINES", "EXTENSIONS"):
        for path, order in settings.getwithbase(name).items():
            if order is not None:
                load_object(path)
    for path in (settings["DOWNLOAD_HANDLERS_BASE"]["http"], settings["TWISTED_DNS_RESOLVER"],
                 settings["SCHEDULER"], settings["DUPEFILTER_CLASS"]):
        load_object(path)


def _wait_for_start(start_fd: int) -> bool:
    """Block until the scan process says "go" (the job file is written) or closes the pipe
    (not needed after all, or the scan process is gone): True for "go"."""
    with os.fdopen(start_fd, "rb") as pipe:
        return pipe.read() == START


def worker_main(argv: list[str]) -> int:
    """python -m scanner.crawl JOB.json [--start-fd FD]: crawl the job's batch. With --start-fd
    the worker was started ahead of its job: it imports first, then waits for "go" on FD."""
    job_path = argv[0]
    if argv[1:2] == ["--start-fd"]:
        # A Ctrl-C reaches the whole process group: the scan process stops a worker that has
        # no job yet by closing its pipe, so no traceback from the middle of an import.
        default_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
        _warm_up()
        if not _wait_for_start(int(argv[2])):
            return 0
        signal.signal(signal.SIGINT, default_sigint)
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    _die_with_parent(job.get("parent_pid"))
    for fd in (job.get("events_fd"), job.get("lock_fd")):
        if fd is not None:
            os.set_inheritable(fd, False)  # not to the browser: only this process holds them
    # The scan process writes what this worker stores, as it sends it.
    sink = None
    if job.get("events_fd") is not None:
        from scanner.store_writer import Forwarder

        sink = Forwarder(job["events_fd"])
    return 0 if crawl_batch(job, sink=sink) == "finished" else WORKER_UNFINISHED


def _exit_worker(code: int) -> None:
    """End a worker without tearing its interpreter down: what it sent is in the pipe, what it
    wrote is committed, and freeing Scrapy's and the crawl's objects one by one took ~0.4 s of
    CPU (over a second of wall time on a busy machine) after the last target was done. The
    exit handlers still run (logging's flush, the benches' CPU hook)."""
    import atexit
    import logging

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# ---- the scan process ----------------------------------------------------------------------

class ScanEvents:
    """What `run_scan` reports as it goes; these defaults say nothing (scanner.summary shows it)."""

    def scan_started(self, scan_id: int, total: int, already_done: int) -> None:
        pass

    def target_finished(self, target_id: str, status: str, seconds: float | None,
                        reachable: bool | None, reason: str | None = None) -> None:
        """status 'done' (crawled; reachable says if any fetch succeeded) or 'failed'."""

    def target_scored(self, target_id: str, row: dict) -> None:
        """A target done was cross-checked and scored during the crawl (row: its scores row,
        stored, less its explanation); the targets left are at the end, before `scan_finished`."""

    def scan_finished(self, outcome: ScanOutcome) -> None:
        pass


@dataclasses.dataclass
class ScanOutcome:
    scan_id: int
    status: str                       # complete | interrupted
    scores: list[dict]                # of the targets done (their rows less the explanation)
    total: int
    not_done: list[str]               # pending or failed: not scored

    @property
    def score_statuses(self) -> list[str]:
        return [row["status"] for row in self.scores]


def per_target_tables(db) -> list[str]:
    """Tables whose rows belong to one target of one scan (those a re-crawl replaces)."""
    return [table.name for table in db.tables
            if table.name != "scan_targets" and {"scan_id", "target_id"} <= set(table.columns_dict)]


def _forget_partial_rows(db, scan_id: int, target_ids) -> None:
    """Rows of targets not done: they are crawled again from scratch."""
    target_ids = list(target_ids)
    with db.conn:
        for table in per_target_tables(db):
            for target_id in target_ids:
                db.execute(f"DELETE FROM [{table}] WHERE scan_id = ? AND target_id = ?",
                           [scan_id, target_id])


def _done_targets(db, scan_id: int) -> set[str]:
    return {r[0] for r in db.execute(
        "SELECT target_id FROM scan_targets WHERE scan_id = ? AND status = 'done'", [scan_id])}


def mark_abandoned_scans(db) -> list[int]:
    """Scans left 'running' by a process that is gone become 'interrupted', finished at their
    last sign of life. Call it holding the scan lock: then no scan of this database runs."""
    abandoned = [r[0] for r in db.execute("SELECT id FROM scans WHERE status = 'running'")]
    with db.conn:
        for scan_id in abandoned:
            db.execute(
                """UPDATE scans SET status = 'interrupted', finished_at = COALESCE(
                     (SELECT MAX(finished_at) FROM scan_targets WHERE scan_id = scans.id),
                     started_at)
                   WHERE id = ?""", [scan_id])
    return abandoned


def resumable_scan(db) -> dict | None:
    """The latest scan that did not complete, if it is the latest scan of the database; its
    options as stored (a dict: `ScanOptions.resuming` merges them with the resuming run's)."""
    row = db.execute("SELECT id, status, options FROM scans ORDER BY id DESC LIMIT 1").fetchone()
    if row and row[1] in ("running", "interrupted"):
        return {"id": row[0], "status": row[1], "options": json.loads(row[2] or "{}")}
    return None


@dataclasses.dataclass
class _Started:
    proc: subprocess.Popen
    job_path: Path
    events_fd: int  # our end of its events pipe
    sending_fd: int  # its end, by the number it has in the worker (pass_fds keeps numbers)
    start_fd: int | None  # our end of its start pipe, until "go"


class WorkerLauncher:
    """Starts the scan's worker processes (`python -m scanner.crawl JOB`). `warm(n)` starts n of
    them before their jobs are known: they import Scrapy and the spiders (~0.8 s of a core) while
    the scan process imports and sets up the scan, and wait; `start(job)` hands the next job to
    one of them, or starts a worker. Those never given a job exit when the launcher closes
    their start pipe, as they do if the scan process dies. `lock` (a held ScanLock) is inherited
    by every worker."""

    def __init__(self, lock=None):
        self.lock_fd = lock.fileno() if lock is not None else None
        self.jobs = tempfile.TemporaryDirectory(prefix="scanner-jobs-")
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
            str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))}
        self.warm_workers: list[_Started] = []
        self.spawned = 0

    def __enter__(self) -> WorkerLauncher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def warm(self, count: int) -> None:
        """Have `count` workers started ahead of their jobs."""
        for _ in range(count - len(self.warm_workers)):
            self.warm_workers.append(self._spawn(None))

    def start(self, job: dict) -> _Started:
        """A worker crawling `job` (db, scan_id, options, targets), with its events pipe."""
        from scanner.store_writer import widen_pipe

        if self.warm_workers:
            worker = self.warm_workers.pop(0)
            self._write_job(worker, job)
            try:
                os.write(worker.start_fd, START)
            except BrokenPipeError:  # it died while waiting: seen as a worker that exited
                pass
            os.close(worker.start_fd)
            worker.start_fd = None
        else:
            worker = self._spawn(job)
        widen_pipe(worker.events_fd)
        return worker

    def _write_job(self, worker: _Started, job: dict) -> None:
        job = {**job, "parent_pid": os.getpid(), "events_fd": worker.sending_fd,
               "lock_fd": self.lock_fd}
        partial = worker.job_path.with_suffix(".partial")  # a reader never sees half a job
        partial.write_text(json.dumps(job), encoding="utf-8")
        partial.replace(worker.job_path)

    def _spawn(self, job: dict | None) -> _Started:
        """A worker for `job`, or (None) one that waits for its job on a start pipe."""
        read_fd, write_fd = os.pipe()
        start_read, start_write = os.pipe() if job is None else (None, None)
        self.spawned += 1
        worker = _Started(None, Path(self.jobs.name) / f"batch-{self.spawned}.json",
                          read_fd, write_fd, start_write)
        command = [sys.executable, "-m", "scanner.crawl", str(worker.job_path)]
        if job is None:
            command += ["--start-fd", str(start_read)]
        else:
            self._write_job(worker, job)
        try:
            worker.proc = subprocess.Popen(command, env=self.env, pass_fds=[
                fd for fd in (write_fd, start_read, self.lock_fd) if fd is not None])
        finally:
            for fd in (write_fd, start_read):
                if fd is not None:
                    os.close(fd)
        os.set_blocking(read_fd, False)
        return worker

    def dismiss(self) -> None:
        """The warm workers not given a job (a resumed scan with fewer batches left) exit."""
        for worker in self.warm_workers:
            os.close(worker.start_fd)
            os.close(worker.events_fd)
        for worker in self.warm_workers:
            try:
                worker.proc.wait(WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
        self.warm_workers = []

    def close(self) -> None:
        """After the last worker: no warm worker is left, and the job files go."""
        self.dismiss()
        self.jobs.cleanup()


def run_scan(db_path, targets, targets_file: str, options: ScanOptions = DEFAULT_OPTIONS, *,
             resume_scan_id: int | None = None, events: ScanEvents | None = None,
             lock=None, launcher: WorkerLauncher | None = None) -> ScanOutcome:
    """Crawl every target once (or, resuming, every target not done), cross-checking and
    scoring each target in this process as soon as a worker tells it is done (while the workers
    crawl on), and the targets done in an earlier run of a resumed scan while waiting for them;
    any done target left is analysed at the end. A Ctrl-C or SIGTERM stops the workers and ends
    the scan 'interrupted' with what was done.

    A resumed scan is crawled with the options given here, which the caller restores from it.
    `lock` (a held scanner.lock.ScanLock) is named after the scan and handed to the workers.
    `launcher`: the caller's, with workers already warming (closed when the crawl ends)."""
    from scanner import store
    from scanner.analysis import ScanAnalysis
    from scanner.list_update import record_tracker_lists
    from scanner.matching import rules_version
    from scanner.rules_record import record_rules
    from scanner.store_writer import StoreWriter
    from scanner.trackers import TrackerList, tracker_rule_files

    events = events or ScanEvents()
    db = store.open_db(db_path)
    if resume_scan_id is None:
        scan_id = store.start_scan(db, rules_version=rules_version(), targets_file=targets_file,
                                   options=options.to_dict())
    else:
        scan_id = resume_scan_id
        db["scans"].update(scan_id, {"status": "running", "finished_at": None,
                                     "options": json.dumps(options.to_dict(), sort_keys=True)})
    if lock is not None:
        lock.set_scan_id(scan_id)
    done = _done_targets(db, scan_id) if resume_scan_id is not None else set()
    store.upsert_targets(db, targets, scan_id)
    pending = [t for t in targets if t.id not in done]
    _forget_partial_rows(db, scan_id, [t.id for t in pending])
    store.mark_targets(db, scan_id, [t.id for t in pending], "pending")
    earlier = [t.id for t in targets if t.id in done]
    # This connection writes what the workers send: they crawl, this process stores.
    writer = StoreWriter(db, db_path)
    analyses: list[ScanAnalysis] = []

    def prepare() -> None:
        """Record the scan's tracker lists and rules while its first workers start (they read
        neither; what they send waits in their pipes until this is done)."""
        trackers = TrackerList.load()  # the list recorded is the one the analysis uses
        writer.trackers = trackers  # and the one the writer classifies third parties with
        if resume_scan_id is None:
            record_tracker_lists(db, scan_id, trackers, tracker_rule_files())
            record_rules(db, scan_id, trackers)  # the rules as they are now, for every finding
        # This connection analyses each target done while the workers crawl on (WAL: its reads
        # wait for no one; its writes, one short BEGIN IMMEDIATE each, wait in the busy timeout).
        analyses.append(ScanAnalysis(db, scan_id, targets, trackers))

    def analyse(target_id: str) -> None:
        try:
            row = analyses[0].target_done(target_id)
        except Exception:  # its transaction rolled back
            # Not while the crawl goes on: `finish` analyses the target again after the crawl,
            # where an error ends the scan as it did before analysis overlapped the crawl.
            return
        if row is not None:
            events.target_scored(target_id, row)

    events.scan_started(scan_id, len(targets), len(targets) - len(pending))
    with _sigterm_interrupts():
        try:
            with launcher or WorkerLauncher(lock) as workers:
                status = _run_batches(db_path, scan_id, pending, options, events, workers,
                                      writer, analyse=analyse, backlog=earlier, prepare=prepare)
            if not pending:  # no worker was started
                prepare()
            elif not analyses:  # a Ctrl-C came first: the records are not made twice
                analyses.append(ScanAnalysis(db, scan_id, targets, TrackerList.load()))
            finished = _done_targets(db, scan_id)
            scores = analyses[0].finish(finished)
        except KeyboardInterrupt:
            store.finish_scan(db, scan_id, "interrupted")
            raise
        not_done = [t.id for t in targets if t.id not in finished]
        if not_done:
            status = "interrupted"
        store.finish_scan(db, scan_id, status)
        db.close()
    outcome = ScanOutcome(scan_id, status, scores, len(targets), not_done)
    events.scan_finished(outcome)
    return outcome


class _sigterm_interrupts:
    """While inside: SIGTERM (systemd stopping the service, `kill`) acts as Ctrl-C."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class _signals_held:
    """While inside: SIGINT and SIGTERM wait; on the way out the first that came is handled
    as it would have been (a KeyboardInterrupt, for Ctrl-C)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.previous, self.caught = {}, []
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self._hold)

    def _hold(self, signum, frame):
        self.caught.append(signum)

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if self.caught:
            signal.raise_signal(self.caught[0])


def split_batches(pending: list, options: ScanOptions) -> list[list]:
    """Batches of at most `batch_size` targets, split evenly: as few worker processes as that
    allows (each starts Scrapy and the scanner anew), yet one batch per worker when the targets
    are enough for all of them (`--workers 2` over 100 targets: two batches of 50).

    Targets on one site (`site_key`: the host, and the port when the URL names one) go to one
    batch, unless there are more of them than a batch holds: each worker is a crawler of its
    own, with its own per-site politeness slot and its own `robots.txt`, so a site split over
    two workers would get twice the configured request rate and its `robots.txt` fetched
    twice. A batch keeps the targets' order; a site's targets join the batch of its first."""
    if not pending:
        return []
    count = max(-(-len(pending) // options.batch_size), min(options.workers, len(pending)))
    size = -(-len(pending) // count)
    sites: dict = {}  # site -> its targets' positions in `pending`, in order
    for position, target in enumerate(pending):
        sites.setdefault(site_key(target) or position, []).append(position)
    batches: list[list[int]] = [[]]
    for positions in sites.values():
        for start in range(0, len(positions), options.batch_size):
            chunk = positions[start:start + options.batch_size]
            if batches[-1] and len(batches[-1]) + len(chunk) > options.batch_size:
                batches.append([])
            batches[-1] += chunk
            if len(batches[-1]) >= size:
                batches.append([])
    return [[pending[i] for i in sorted(batch)] for batch in batches if batch]


def site_key(target) -> str | None:
    """The site a target is crawled on (its homepage's host, with the port when the URL names
    one: the loopback sites of the tests and benches differ by port), or None for anything
    that is not a target with a homepage."""
    from urllib.parse import urlsplit

    homepage = getattr(target, "homepage", None)
    if not isinstance(homepage, str):
        return None
    try:
        parts = urlsplit(homepage)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    return None if not host else host if port is None else f"{host}:{port}"


# What the scan process reads of a worker's pipe at a time: what it holds unwritten is bounded.
READ_CHUNK = 1 << 20


@dataclasses.dataclass
class _Worker:
    proc: subprocess.Popen
    batch: list[Target]
    events_fd: int
    reader: object  # scanner.store_writer.FrameReader
    reported: set = dataclasses.field(default_factory=set)
    unwritten: dict = dataclasses.field(default_factory=dict)  # target -> why it was not written
    closed: bool = False  # its events pipe reached its end: the worker is exiting


def _run_batches(db_path, scan_id, pending, options: ScanOptions, events: ScanEvents,
                 launcher: WorkerLauncher, writer, analyse=None, backlog=(), prepare=None) -> str:
    """Start a worker per batch (`launcher`), at most `options.workers` at once; 'complete' or
    'interrupted'.

    Each worker sends what it stores (scanner.store_writer.Forwarder); `writer` writes it as it
    arrives, a target's rows with its 'done' mark in one transaction. After a Ctrl-C what the
    stopping workers still send is written too. analyse(target_id) is called for each target
    written done (after `events` hears of it), and for the targets of `backlog` one at a time
    when no worker has anything to send, until the workers are stopped. prepare() is called
    once the first workers are started, before anything they send is read."""
    from scanner import store
    from scanner.store_writer import FrameReader

    backlog = list(backlog) if analyse is not None else []  # (else a select that never waits)
    stopping = False
    queue = split_batches(pending, options)
    running: list[_Worker] = []
    selector = selectors.DefaultSelector()
    status = "complete"

    def start(batch: list[Target]) -> _Worker:
        started = launcher.start({"db": str(db_path), "scan_id": scan_id,
                                  "options": options.to_dict(),
                                  "targets": [dataclasses.asdict(t) for t in batch]})
        worker = _Worker(started.proc, batch, started.events_fd, FrameReader())
        selector.register(worker.events_fd, selectors.EVENT_READ, worker)
        return worker

    def read_events(worker: _Worker, drain: bool = False) -> None:
        """Write what the worker sent: one chunk read (all that is left when `drain`)."""
        while not worker.closed:
            try:
                chunk = os.read(worker.events_fd, READ_CHUNK)
            except BlockingIOError:
                break
            if not chunk:  # the worker closed its end; an end stays readable, so no more select
                worker.closed = True
                selector.unregister(worker.events_fd)
                break
            worker.reader.feed(chunk)
            messages = []
            while (message := worker.reader.next()) is not None:
                messages.append(message)
            if messages:
                write(worker, messages)
            if not drain:
                break

    def write(worker: _Worker, messages: list[tuple]) -> None:
        # A Ctrl-C waits for the commit: what arrived is written, or (the process killed)
        # none of it.
        with _signals_held():
            told, failed = writer.write(messages)
        for message, exc in failed:  # rolled back alone: nothing of it half written
            what = f"{message[0]} of target {message[2]}" \
                if message[0] in ("rows", "target", "hold") \
                else f"{message[0]} {message[1].get('url')}"
            print(f"scanner: could not store the {what}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            if message[0] == "target":
                worker.unwritten[message[2]] = f"not stored: {type(exc).__name__}: {exc}"
        for target_id, seconds, reachable in told:
            worker.reported.add(target_id)
            events.target_finished(target_id, "done", seconds, reachable)
            if analyse is not None and not stopping:
                analyse(target_id)

    def settle(worker: _Worker, stopped: bool = False) -> None:
        """After a worker exits: report the targets it did not, and mark those it left undone:
        'done' if its crawl ended normally, 'failed' if it died; left 'pending' if `stopped`."""
        read_events(worker, drain=True)
        if not worker.closed:
            selector.unregister(worker.events_fd)
        os.close(worker.events_fd)
        returncode = worker.proc.returncode
        db = store.open_db(db_path)
        try:
            done = _done_targets(db, scan_id) & {t.id for t in worker.batch}
            undone = [t.id for t in worker.batch
                      if t.id not in done and t.id not in worker.unwritten]
            if undone and returncode == 0:
                # The crawl ended normally, so these were crawled; only their message went missing.
                store.mark_targets(db, scan_id, undone, "done")
                done.update(undone)
            elif undone and not stopped:
                store.mark_targets(db, scan_id, undone, "failed")
            if not stopped:  # else left pending, as the targets whose message never came
                store.mark_targets(db, scan_id, list(worker.unwritten), "failed")
        finally:
            db.close()
        for target in worker.batch:  # rows held for a target whose message never came
            writer.drop_held(target.id)
        for target in worker.batch:
            if target.id in done and target.id not in worker.reported:
                events.target_finished(target.id, "done", None, None)
            elif target.id in worker.unwritten and not stopped:
                events.target_finished(target.id, "failed", None, None,
                                       worker.unwritten[target.id])
            elif target.id not in done and not stopped:
                events.target_finished(target.id, "failed", None, None,
                                       f"worker exited {returncode}")

    try:
        while queue or running:
            while queue and len(running) < options.workers:
                running.append(start(queue.pop(0)))
                if not queue:
                    launcher.dismiss()
            if prepare is not None:
                prepare()
                prepare = None
            # A worker that closed its pipe is exiting: look for its end more often.
            exiting = any(worker.closed for worker in running)
            ready = selector.select(timeout=0 if backlog else 0.02 if exiting else 0.2)
            for key, _ in ready:
                read_events(key.data)
            if backlog and not ready:
                analyse(backlog.pop(0))
            for worker in list(running):
                if worker.proc.poll() is None:
                    continue
                running.remove(worker)
                settle(worker)
                if worker.proc.returncode != 0:
                    status = "interrupted"
    except KeyboardInterrupt:
        status = "interrupted"
        stopping = True
        # What the workers sent before they stop is written; a worker blocked on a full
        # pipe gets to its end, as this process reads on.
        _stop(running, lambda: [read_events(key.data) for key, _ in
                                selector.select(timeout=0.05)])
        for worker in running:
            settle(worker, stopped=True)
    finally:
        selector.close()
    return status


def _stop(running: list[_Worker], read=lambda: time.sleep(0.05)) -> None:
    """Ask each worker to stop (Scrapy shuts down on SIGTERM), then kill those that linger;
    read() is called while they stop (it returns within a moment)."""
    for worker in running:
        if worker.proc.poll() is None:
            worker.proc.terminate()
    deadline = time.monotonic() + WORKER_STOP_SECONDS
    while time.monotonic() < deadline and any(w.proc.poll() is None for w in running):
        read()
    for worker in running:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


if __name__ == "__main__":  # a worker: python -m scanner.crawl JOB.json [--start-fd FD]
    _exit_worker(worker_main(sys.argv[1:]))
