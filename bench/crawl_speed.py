"""Crawl throughput and memory: scan N synthetic child-app sites on loopback, print figures.

Usage: python bench/crawl_speed.py [--targets 100] [--pages 5]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlite_utils
import yaml

ROOT = Path(__file__).resolve().parent.parent
POLICY = " ".join([
    "We collect your name, email address and device identifiers.",
    "We may share information with advertising partners to show interest-based ads.",
    "We do not sell your personal information.",
    "We obtain verifiable parental consent before collecting information from children under 13.",
] * 40)


def page(site: int, n: int, pages: int) -> str:
    links = "".join(f'<a href="/s{site}/p{i}.html">page {i}</a> ' for i in range(pages))
    return (f"<html><head><title>Site {site} page {n}</title>"
            f'<script src="https://www.googletagmanager.com/gtm.js?id=GTM-{site}"></script>'
            f'<script src="/s{site}/app.js"></script></head><body><main><p>Games.</p>'
            f'<img src="https://www.facebook.com/tr?id={site}" width="1" height="1"></main>'
            f'<footer>{links}<a href="/s{site}/privacy.html">Privacy Policy</a></footer></body></html>')


class Handler(BaseHTTPRequestHandler):
    pages = 5

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) >= 1 and parts[0].startswith("s") and parts[0][1:].isdigit():
            site = int(parts[0][1:])
            name = parts[1] if len(parts) > 1 else ""
            body = f"<html><body><main><h1>Privacy</h1><p>{POLICY}</p></main></body></html>" \
                if name == "privacy.html" else page(site, 0, self.pages)
            status = 200
        else:
            body, status = "not found", 404
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--pages", type=int, default=5)
    args = parser.parse_args()
    Handler.pages = args.pages
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        targets = {"targets": [
            {"id": f"site-{i}", "audience": "child-directed", "homepage": f"{base}/s{i}/"}
            for i in range(args.targets)
        ]}
        targets_file = Path(tmp) / "targets.yaml"
        targets_file.write_text(yaml.safe_dump(targets))
        db_path = Path(tmp) / "bench.db"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "scanner.cli", "scan", str(targets_file), "--db", str(db_path),
             "--allow-private", "--max-pages", str(args.pages)],
            cwd=ROOT, capture_output=True, text=True,
        )
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"scan failed: {result.stderr[-2000:]}")
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        db = sqlite_utils.Database(db_path)
        fetches = db["fetches"].count
        print(f"crawl: {args.targets} targets, {fetches} fetches in {elapsed:.1f} s "
              f"= {fetches / elapsed:.1f} fetches/s (wall, incl. start-up)")
        print(f"crawl: {db['findings'].count} findings, {db['third_parties'].count} third-party rows, "
              f"{db['documents'].count} distinct documents")
        print(f"crawl: peak RSS of the scan process {child.ru_maxrss / 1024:.0f} MB, "
              f"CPU {child.ru_utime + child.ru_stime:.1f} s")
    server.shutdown()


if __name__ == "__main__":
    main()
