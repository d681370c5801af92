"""Crawl throughput: `scanner scan` (run_scan, its workers, every pipeline) against a bare Scrapy
spider fetching the same pages of the same generated sites in the same run.

Each site is served on its own loopback address (127.0.x.y), so Scrapy's per-domain slots and
politeness apply as they would on the web. Both sides crawl with the Scrapy settings the scan
itself uses (crawl_settings: robots.txt obeyed, its delay and concurrency); the bare spider has
no pipeline, middleware or extension of the scanner and keeps its own seen set.

Usage: python bench/crawl_speed.py [--sites 200] [--pages 10] [--workers 1] [--profile FILE]
  --profile FILE: also crawl one batch in-process under cProfile and print its top costs.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import ipaddress
import json
import os
import pstats
import selectors
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


def scan_command(targets_file: Path, db_path: Path, pages: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "scanner.cli", "scan", str(targets_file), "--db", str(db_path),
            "--allow-private", "--max-pages", str(pages), "--workers", str(workers)]


def run_scan_command(targets_file: Path, db_path: Path, pages: int, workers: int,
                     env: dict | None = None) -> float:
    """Run `scanner scan`; its wall seconds. Exits with its stderr when it fails."""
    started = time.perf_counter()
    result = subprocess.run(scan_command(targets_file, db_path, pages, workers), cwd=ROOT,
                            capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):  # 1: the scan found high risks, which these sites have
        sys.exit(f"scan failed ({result.returncode}): {result.stderr[-2000:]}")
    return elapsed


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


def run_bare(targets_file: Path) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--bare",
                             str(targets_file)], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bare spider failed: {result.stderr[-2000:]}")
    return elapsed, json.loads(result.stdout.strip().splitlines()[-1])["pages"]


# ---- profiling one batch in-process ------------------------------------------------------------

def profile_batch(targets_file: Path, db_path: Path, pages: int, out: str) -> None:
    """Crawl every target as one batch in a fresh process under cProfile (as a worker would)."""
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--profile-batch",
                    str(targets_file), str(db_path), str(pages), out], cwd=ROOT, check=True)
    stats = pstats.Stats(out)
    print(f"profile of one in-process batch ({out}), top by own time:")
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(40)


def _profiled_batch(targets_file: str, db_path: str, pages: int) -> None:
    from scanner import store
    from scanner.crawl import crawl_batch
    from scanner.matching import rules_version
    from scanner.options import ScanOptions
    from scanner.targets import load_targets

    targets = load_targets(targets_file)
    options = ScanOptions(allow_private=True, max_pages=pages, batch_size=len(targets))
    db = store.open_db(db_path)
    scan_id = store.start_scan(db, rules_version=rules_version(), targets_file=targets_file,
                               options=options.to_dict())
    store.upsert_targets(db, targets, scan_id)
    db.close()
    crawl_batch({"db": db_path, "scan_id": scan_id, "options": options.to_dict(),
                 "targets": [dataclasses.asdict(t) for t in targets]})


# ---- main ----------------------------------------------------------------------------------------

def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        run_bare_spider(sys.argv[2])
        return
    if len(sys.argv) == 6 and sys.argv[1] == "--profile-batch":
        targets_file, db_path, pages, out = sys.argv[2:]
        cProfile.runctx("_profiled_batch(targets_file, db_path, int(pages))", globals(),
                        {"targets_file": targets_file, "db_path": db_path, "pages": pages}, out)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--pages", type=int, default=10, help="pages per site (all fetched)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE", help="also profile one in-process batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_sites(args.sites, args.pages) as homepages:
        targets_file = write_targets(Path(tmp) / "targets.yaml", homepages)
        print(f"crawl: {args.sites} sites x {args.pages} pages, each site on its own loopback "
              f"address ({homepages[0]} ... {homepages[-1]})")
        bare_seconds, bare_pages = run_bare(targets_file)
        db_path = Path(tmp) / "bench.db"
        scan_seconds = run_scan_command(targets_file, db_path, args.pages, args.workers)
        pages, rows = scanned_pages(db_path)
        bare_rate, scan_rate = bare_pages / bare_seconds, pages / scan_seconds
        print(f"crawl: bare Scrapy spider   {bare_pages} pages in {bare_seconds:.1f} s = "
              f"{bare_rate:.1f} pages/s (wall, process start included)")
        print(f"crawl: scanner scan         {pages} pages ({rows} fetches) in {scan_seconds:.1f} s"
              f" = {scan_rate:.1f} pages/s (wall, --workers {args.workers}, start-up and "
              "scoring included)")
        print(f"crawl: ratio scanner/bare = {scan_rate / bare_rate:.2f}x (target >= 0.7x)")
        if args.profile:
            profile_batch(targets_file, Path(tmp) / "profile.db", args.pages, args.profile)


if __name__ == "__main__":
    main()
