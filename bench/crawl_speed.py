"""Crawl throughput: `scanner scan` (run_scan, its workers, every pipeline) against a bare Scrapy
spider fetching the same pages of the same generated sites in the same run.

Each site is served on its own loopback address (127.0.x.y), so Scrapy's per-domain slots and
politeness apply as they would on the web. Both sides crawl with the Scrapy settings the scan
itself uses (crawl_settings: robots.txt obeyed, its delay and concurrency); the bare spider has
no pipeline, middleware or extension of the scanner and keeps its own seen set.

Wall time on a shared machine varies with its load; CPU time (the processes' user + system
seconds, workers included) much less, so both ratios are printed.

Usage: python bench/crawl_speed.py [--sites 200] [--pages 10] [--workers auto|N] [--repeat 2]
                                   [--profile FILE]
  --profile FILE: then scan once more with the scan process and every worker under cProfile
  (a sitecustomize hook on PYTHONPATH) and print their merged top costs.
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import json
import os
import pstats
import resource
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlite_utils
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POLICY = " ".join([
    "We collect your name, email address and device identifiers.",
    "We may share information with advertising partners to show interest-based ads.",
    "We do not sell your personal information.",
    "We obtain verifiable parental consent before collecting information from children under 13.",
    "We use cookies and similar technologies to measure how our games are used.",
] * 30)
# Words of a page's paragraphs: pages of real sites are tag-dense, so each gets many short tags.
FILLER = ("Play puzzle games, colouring books and maths adventures with friends in a safe place "
          "made for families. ")


# ---- the generated sites ----------------------------------------------------------------------

def page_html(site: int, n: int, pages: int) -> str:
    """Page n of a site of `pages` pages: nav links to every page, the policy in the footer,
    third-party scripts and pixels like a child-app homepage has."""
    nav = "".join(f'<li><a href="/p{i}.html">Game {i}</a></li>' for i in range(1, pages - 1))
    cards = "".join(f'<div class="card"><h3>Card {c}</h3><p>{FILLER}</p>'
                    f'<img src="/img/{c}.png" alt="card {c}"></div>' for c in range(12))
    return (f"<!doctype html><html><head><title>Site {site} page {n}</title>"
            f'<script src="https://www.googletagmanager.com/gtm.js?id=GTM-{site}"></script>'
            f'<script src="https://connect.facebook.net/en_US/fbevents.js"></script>'
            f'<script src="/app.js"></script><link rel="stylesheet" href="/site.css"></head>'
            f'<body><nav><ul><li><a href="/">Home</a></li>{nav}</ul></nav><main>{cards}'
            f'<img src="https://www.facebook.com/tr?id={site}" width="1" height="1"></main>'
            f'<footer><a href="/privacy.html">Privacy Policy</a> '
            f'<a href="https://example.org/help">Help</a></footer></body></html>')


POLICY_HTML = (f"<html><head><title>Privacy Policy</title></head><body><main><h1>Privacy Policy"
               f"</h1><p>{POLICY}</p></main></body></html>")
ROBOTS = "User-agent: *\nAllow: /\n"


class SiteHandler(BaseHTTPRequestHandler):
    """One generated site: '/', /p1.html ... /p{pages-2}.html, /privacy.html, /robots.txt."""

    site = 0
    pages = 10
    answered = collections.Counter()  # requests answered by all the sites ("all" key)

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        status, content_type = 200, "text/html; charset=utf-8"
        if path == "/robots.txt":
            body, content_type = ROBOTS, "text/plain"
        elif path == "/privacy.html":
            body = POLICY_HTML
        elif path == "/" or (path.startswith("/p") and path.endswith(".html")
                             and path[2:-5].isdigit() and 0 < int(path[2:-5]) < self.pages - 1):
            body = page_html(self.site, 0 if path == "/" else int(path[2:-5]), self.pages)
        else:
            body, status, content_type = "not found", 404, "text/plain"
        data = body.encode()
        SiteHandler.answered["all"] += 1
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def site_address(index: int) -> str:
    """The loopback address of site `index`: 127.0.0.2, 127.0.0.3 ... then 127.0.1.x."""
    return str(ipaddress.IPv4Address("127.0.0.2") + index + index // 254 * 2)


@contextmanager
def serve_sites(count: int, pages: int):
    """Serve `count` sites, each on its own loopback address; yields their homepage URLs.

    One thread accepts for every site (a selector over their sockets); each connection is then
    handled in a thread of its own, as ThreadingHTTPServer does."""
    servers = []
    for index in range(count):
        handler = type(f"Site{index}", (SiteHandler,), {"site": index, "pages": pages})
        server = ThreadingHTTPServer((site_address(index), 0), handler)
        server.daemon_threads = True
        servers.append(server)
    stop = threading.Event()

    def accept_loop():
        with selectors.DefaultSelector() as selector:
            for server in servers:
                selector.register(server, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    key.fileobj._handle_request_noblock()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield [f"http://{s.server_address[0]}:{s.server_address[1]}/" for s in servers]
    finally:
        stop.set()
        thread.join()
        for server in servers:
            server.server_close()


def write_targets(path: Path, homepages: list[str]) -> Path:
    path.write_text(yaml.safe_dump({"targets": [
        {"id": f"site-{i}", "audience": "child-directed", "homepage": url}
        for i, url in enumerate(homepages)]}), encoding="utf-8")
    return path


def scan_command(targets_file: Path, db_path: Path, pages: int, workers: int | str) -> list[str]:
    return [sys.executable, "-m", "scanner.cli", "scan", str(targets_file), "--db", str(db_path),
            "--allow-private", "--max-pages", str(pages), "--workers", str(workers)]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# Put on PYTHONPATH, it has every Python process of the scan append "<role> <CPU seconds>" to
# $BENCH_CPU_LOG as it exits: the scan process, and each worker (python -m scanner.crawl).
CPU_HOOK = """import atexit, os, resource, sys
if os.environ.get("BENCH_CPU_LOG"):
    def _log_cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        role = "worker" if sys.argv[0].endswith("crawl.py") else "scan"
        with open(os.environ["BENCH_CPU_LOG"], "a") as log:
            log.write(f"{role} {usage.ru_utime + usage.ru_stime:.2f}\\n")

    atexit.register(_log_cpu)
"""


def run_scan_command(targets_file: Path, db_path: Path, pages: int, workers: int,
                     env: dict | None = None) -> tuple[float, float]:
    """Run `scanner scan`; its (wall, CPU) seconds, its workers' CPU included. Exits with its
    stderr when it fails."""
    started, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(scan_command(targets_file, db_path, pages, workers), cwd=ROOT,
                            capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):  # 1: the scan found high risks, which these sites have
        sys.exit(f"scan failed ({result.returncode}): {result.stderr[-2000:]}")
    return elapsed, children_cpu() - cpu


def best_of(best: tuple | None, run: tuple) -> tuple:
    """(the shortest wall time, the least CPU time, pages) of the runs so far: each figure is
    its best run's, as load on the shared machine slows a run's wall and CPU time apart."""
    if best is None:
        return run
    return min(best[0], run[0]), min(best[1], run[1]), run[2]


def cpu_split_env(tmp: Path) -> tuple[dict, Path]:
    """The environment that has each process of a scan log its CPU seconds, and the log."""
    hook, log = tmp / "cpu-hook", tmp / "cpu.log"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(CPU_HOOK)
    log.write_text("")
    return {**os.environ, "BENCH_CPU_LOG": str(log),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))}, log


def cpu_split(log: Path) -> str:
    """'scan process 1.9 s + workers 7.0 s' from a cpu_split_env log."""
    seconds = collections.Counter()
    for line in log.read_text().splitlines():
        role, cpu = line.split()
        seconds[role] += float(cpu)
    return f"scan process {seconds['scan']:.1f} s + workers {seconds['worker']:.1f} s"


def scanned_pages(db_path: Path) -> tuple[int, int]:
    """(distinct pages fetched with a 2xx status, fetch rows) of the database's latest scan."""
    db = sqlite_utils.Database(db_path)
    scan_id = db.execute("SELECT MAX(id) FROM scans").fetchone()[0]
    distinct = db.execute("SELECT COUNT(DISTINCT COALESCE(final_url, url)) FROM fetches "
                          "WHERE scan_id = ? AND status BETWEEN 200 AND 299", [scan_id]).fetchone()[0]
    rows = db.execute("SELECT COUNT(*) FROM fetches WHERE scan_id = ?", [scan_id]).fetchone()[0]
    db.close()
    return distinct, rows


# ---- the bare spider (run in a process of its own: `--bare TARGETS`) --------------------------

def bare_settings():
    """The scan's own Scrapy settings (scanner.crawl.crawl_settings, loopback targets) without
    the scanner's pipeline, address guard and extensions."""
    from scanner.crawl import crawl_settings
    from scanner.options import ScanOptions

    settings = crawl_settings(":memory:", 0, ScanOptions(allow_private=True), fast=True)
    for name in ("ITEM_PIPELINES", "DOWNLOADER_MIDDLEWARES", "EXTENSIONS"):
        settings.set(name, {})
    settings.set("LOG_LEVEL", "ERROR")
    return settings


def run_bare_spider(targets_file: str) -> None:
    """Crawl every target's site, following same-site links; print {"pages": N} as JSON."""
    from urllib.parse import urlsplit

    import scrapy
    from scrapy.crawler import CrawlerProcess

    homepages = [t["homepage"] for t in yaml.safe_load(Path(targets_file).read_text())["targets"]]
    fetched: set[str] = set()

    class BareSpider(scrapy.Spider):
        name = "bare"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seen: set[str] = set()

        async def start(self):
            for url in homepages:
                self.seen.add(url)
                yield scrapy.Request(url, dont_filter=True)

        def parse(self, response):
            if response.status < 300:
                fetched.add(response.url)
            host = urlsplit(response.url).netloc
            for href in response.css("a[href]::attr(href)").getall():
                url = response.urljoin(href).split("#")[0]
                if urlsplit(url).netloc == host and url not in self.seen:
                    self.seen.add(url)
                    yield scrapy.Request(url, dont_filter=True)

    process = CrawlerProcess(bare_settings())
    process.crawl(BareSpider)
    process.start()
    print(json.dumps({"pages": len(fetched)}))


def run_bare(targets_file: Path) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--bare",
                             str(targets_file)], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bare spider failed: {result.stderr[-2000:]}")
    return elapsed, children_cpu() - cpu, json.loads(result.stdout.strip().splitlines()[-1])["pages"]


# ---- start-up: the policy rules in a fresh process, parsed or from the compiled rules cache -----

STARTUP_PROBE = """import time
started = time.perf_counter()
from scanner.matching import classify, load_rules
imported = time.perf_counter()
rules = load_rules()
loaded = time.perf_counter()
classify("We collect your email address.", rules, lang="en")
print(loaded - imported, time.perf_counter() - loaded)
"""


def rules_startup(tmp: Path, runs: int = 3) -> None:
    """Print what a worker spends on the policy rules: parsed (no cache yet) and from the cache."""
    cache = tmp / "rules-cache"
    env = {**os.environ, "SCANNER_CACHE_DIR": str(cache)}
    times: dict[str, list] = {"parsed": [], "cached": []}
    for _ in range(runs):
        for kind in ("parsed", "cached"):
            if kind == "parsed":
                shutil.rmtree(cache, ignore_errors=True)
            out = subprocess.run([sys.executable, "-c", STARTUP_PROBE], cwd=ROOT, env=env,
                                 capture_output=True, text=True, check=True).stdout
            times[kind].append(tuple(float(x) for x in out.split()))
    for kind, label in (("parsed", "parsed from the YAML files (no cache)"),
                        ("cached", "read from the compiled rules cache")):
        load, compile_ = min(times[kind])
        print(f"start-up: policy rules {label:38} {load:5.2f} s, compiled for the first "
              f"classify() {compile_:5.2f} s (best of {runs} fresh processes)")


# ---- profiling every process of a scan ----------------------------------------------------------

# Put on PYTHONPATH, it profiles every Python process the scan starts (the scan and its workers)
# and writes <pid>.prof into $BENCH_PROFILE_DIR as each exits.
PROFILE_HOOK = """import atexit, cProfile, os, sys, time
if os.environ.get("BENCH_PROFILE_DIR"):
    _profile = cProfile.Profile(time.process_time)  # CPU: a worker blocked on its pipe costs none
    _profile.enable()

    def _dump_profile():
        _profile.disable()
        role = "worker" if sys.argv[0].endswith("crawl.py") else "scan"
        _profile.dump_stats(os.path.join(os.environ["BENCH_PROFILE_DIR"],
                                         f"{role}-{os.getpid()}.prof"))

    atexit.register(_dump_profile)
"""


def profile_scan(targets_file: Path, tmp: Path, pages: int, workers: int, out: str) -> None:
    """Scan again with every process under cProfile; print the merged costs, save them to out."""
    hook, profiles = tmp / "profile-hook", tmp / "profiles"
    hook.mkdir()
    profiles.mkdir()
    (hook / "sitecustomize.py").write_text(PROFILE_HOOK)
    env = {**os.environ, "BENCH_PROFILE_DIR": str(profiles),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))}
    run_scan_command(targets_file, tmp / "profiled.db", pages, workers, env=env)
    files = sorted(str(f) for f in profiles.glob("*.prof"))
    stats = pstats.Stats(*files)
    stats.dump_stats(out)
    print(f"profile of the scan's {len(files)} processes, merged ({out}; CPU seconds under cProfile):")
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(r"scanner/|spiders/|sqlite_utils/db\.py", 40)
    # The scan process apart (with two workers it is a serial stage beside them), and the workers.
    for role in ("scan", "worker"):
        mine = [f for f in files if Path(f).name.startswith(f"{role}-")]
        if not mine:
            continue
        part = pstats.Stats(*mine)
        part.dump_stats(f"{out}.{role}")
        print(f"profile of the {role} process{'es' if len(mine) > 1 else ''} alone "
              f"({out}.{role}; {part.total_tt:.2f} s under cProfile):")
        part.sort_stats("cumulative").print_stats(r"scanner/|spiders/|sqlite_utils/db\.py", 30)


# ---- main ----------------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        run_bare_spider(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--pages", type=int, default=10, help="pages per site (all fetched)")
    parser.add_argument("--workers", default="auto",
                        help="the scan's --workers: auto (the scan's own default) or a number")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side; the best counts")
    parser.add_argument("--profile", metavar="FILE",
                        help="then scan again with every process under cProfile; merged stats to FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_sites(args.sites, args.pages) as homepages:
        rules_startup(Path(tmp))
        targets_file = write_targets(Path(tmp) / "targets.yaml", homepages)
        print(f"crawl: {args.sites} sites x {args.pages} pages, each site on its own loopback "
              f"address ({homepages[0]} ... {homepages[-1]})")
        best: dict[str, tuple] = {}
        requests: dict[str, int] = {}  # requests the sites answered (robots.txt included)
        for attempt in range(args.repeat):  # alternated, so both sides meet the same load
            answered = SiteHandler.answered["all"]
            seconds, cpu, pages = run_bare(targets_file)
            requests["bare"] = SiteHandler.answered["all"] - answered
            best["bare"] = best_of(best.get("bare"), (seconds, cpu, pages))
            db_path = Path(tmp) / f"bench-{attempt}.db"
            answered = SiteHandler.answered["all"]
            env, cpu_log = cpu_split_env(Path(tmp))
            seconds, cpu = run_scan_command(targets_file, db_path, args.pages, args.workers, env)
            requests["scan"] = SiteHandler.answered["all"] - answered
            pages, rows = scanned_pages(db_path)
            if cpu < best.get("scan", (0, float("inf")))[1]:
                split = cpu_split(cpu_log)
            best["scan"] = best_of(best.get("scan"), (seconds, cpu, pages))
        rates = {}
        for side, label in (("bare", "bare Scrapy spider"), ("scan", "scanner scan")):
            seconds, cpu, pages = best[side]
            rates[side] = (pages / seconds, pages / cpu)
            print(f"crawl: {label:18} {pages} pages in {seconds:5.1f} s wall = {rates[side][0]:6.1f} "
                  f"pages/s; {cpu:5.1f} s CPU = {rates[side][1]:6.1f} pages per CPU second")
        print(f"crawl: (scanner: {rows} fetches recorded, {requests['scan']} requests reaching the "
              f"sites against the bare spider's {requests['bare']}, --workers {args.workers}; both "
              f"sides' process start-up included, the scan's scoring too; best of {args.repeat})")
        print(f"crawl: the scan's CPU time: {split}")
        print(f"crawl: ratio scanner/bare = {rates['scan'][0] / rates['bare'][0]:.2f}x by wall "
              f"time, {rates['scan'][1] / rates['bare'][1]:.2f}x by CPU time (target >= 0.7x)")
        if args.profile:
            profile_scan(targets_file, Path(tmp), args.pages, args.workers, args.profile)


if __name__ == "__main__":
    main()
