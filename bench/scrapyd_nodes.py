"""The same registry scanned by one `scanner scan`, by `scanner dispatch` to one local Scrapyd node,
and to two: wall-clock seconds of each, and whether the merged scans hold the same findings.

Sites are generated and served on loopback with a fixed delay per response (a stand-in for the
network latency of real sites); nodes are real Scrapyd services that cannot import the checkout.
Usage: python bench/scrapyd_nodes.py [--sites 96] [--latency-ms 500]  (the figures in docs/scale.md)
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCANNER = [sys.executable, "-m", "scanner.cli"]

POLICY = """<html><head><title>Privacy policy</title></head><body><h1>Privacy policy</h1>
<p>We collect your child's name, email address and precise location when they play.</p>
<p>We share personal information with advertising partners to show targeted advertising.</p>
<p>We may sell your personal information to data brokers.</p>
<p>Parents may ask us to delete their child's data at any time.</p>
<p>We keep your data for as long as your account is open.</p></body></html>"""


def homepage(n: int) -> str:
    pages = "".join(f'<a href="/games/{g}">Game {g}</a> ' for g in range(1, 4))
    return (f"<html><head><title>Kid app {n}</title>"
            '<script src="https://www.google-analytics.com/analytics.js"></script>'
            '<img src="https://ib.adnxs.com/getuid?x=1"></head><body>'
            f'<h1>Kid app {n}</h1>{pages}<a href="/privacy">Privacy policy</a></body></html>')


def serve_site(n: int, latency: float) -> str:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            time.sleep(latency)
            if self.path == "/":
                status, body = 200, homepage(n)
            elif self.path == "/privacy":
                status, body = 200, POLICY
            elif self.path.startswith("/games/"):
                status, body = 200, "<html><body><h1>Game</h1><a href='/'>home</a></body></html>"
            else:
                status, body = 404, "not found"
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def node_python(folder: Path) -> Path:
    """A venv seeing the project's dependencies but not the checkout: nodes run the egg alone."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def start_node(python: Path, folder: Path, port: int) -> subprocess.Popen:
    folder.mkdir(parents=True)
    (folder / "scrapyd.conf").write_text(f"[scrapyd]\nbind_address = 127.0.0.1\nhttp_port = {port}\n"
                                         "poll_interval = 0.2\nmax_proc = 2\njobs_to_keep = 25\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen([str(python), "-m", "scrapyd"], cwd=folder, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    for _ in range(100):
        try:
            if requests.get(f"http://127.0.0.1:{port}/daemonstatus.json", timeout=2).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.2)
    raise SystemExit(f"scrapyd on port {port} did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    scan = conn.execute("SELECT MAX(id) FROM scans").fetchone()[0]
    return (conn.execute("SELECT status FROM scans WHERE id = ?", [scan]).fetchone()[0],
            sorted(conn.execute("SELECT target_id, rule_id, evidence FROM findings WHERE scan_id = ?",
                                [scan]).fetchall()),
            sorted(conn.execute("SELECT target_id, grade FROM scores WHERE scan_id = ?", [scan]).fetchall()))


def timed(command: list[str], env: dict) -> float:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:5])} exited {result.returncode}: {result.stderr[-1500:]}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=96)
    parser.add_argument("--latency-ms", type=int, default=500)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCANNER_LOOPBACK_ONLY": "1"}
    os.environ["SCANNER_LOOPBACK_ONLY"] = "1"
    with tempfile.TemporaryDirectory(prefix="bench-scrapyd-") as tmp:
        tmp = Path(tmp)
        targets = [{"id": f"kid-app-{n:03d}", "name": f"Kid app {n}", "audience": "child-directed",
                    "homepage": serve_site(n, args.latency_ms / 1000)} for n in range(args.sites)]
        registry = tmp / "registry.yaml"
        registry.write_text(yaml.safe_dump({"targets": targets}), encoding="utf-8")
        python = node_python(tmp / "venv")
        ports = [free_port(), free_port()]
        nodes = [start_node(python, tmp / f"node{i}", port) for i, port in enumerate(ports)]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            figures = {"scanner scan (one process, no Scrapyd)":
                       (timed(SCANNER + ["scan", str(registry), "--db", str(tmp / "single.db"),
                                         "--allow-private"], env), tmp / "single.db")}
            for count in (1, 2):
                db = tmp / f"nodes{count}.db"
                command = SCANNER + ["dispatch", *sum((["--scrapyd", u] for u in urls[:count]), []),
                                     str(registry), "--db", str(db), "--allow-private", "--poll", "0.5"]
                figures[f"scanner dispatch, {count} Scrapyd node{'s' if count > 1 else ''}"] = (
                    timed(command, env), db)
        finally:
            for node in nodes:
                os.killpg(node.pid, signal.SIGTERM)
        reference = summary(tmp / "single.db")
        print(f"{args.sites} generated sites, {args.latency_ms} ms per response, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for name, (seconds, db) in figures.items():
            status, findings, grades = summary(db)
            same = "same findings and grades" if (findings, grades) == reference[1:] else "DIFFERENT"
            print(f"{name:45s} {seconds:6.1f} s  {status}, {len(findings)} findings, {same}")


if __name__ == "__main__":
    main()
