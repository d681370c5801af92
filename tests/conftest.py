"""Shared fixtures: loopback sites, temporary databases, running the CLI, and a network guard."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Every crawl the tests start, in this process or a subprocess, is confined to loopback.
os.environ["SCANNER_LOOPBACK_ONLY"] = "1"
SCANNER = [sys.executable, "-m", "scanner.cli"]

_real_connect = socket.socket.connect


def _guarded_connect(sock, address):
    """No test may open a connection beyond 127.0.0.0/8 (or ::1), in this process at least."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise OSError(f"test network guard: unresolved host {host!r}") from None
        if not ip.is_loopback:
            raise OSError(f"test network guard: refused connection to {host}")
    return _real_connect(sock, address)


@pytest.fixture(autouse=True)
def network_guard(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield


class LoopbackSite:
    """A site served on 127.0.0.1 from a dict: path -> (status, headers, body) or body, or a
    function returning one of those, called per request."""

    def __init__(self, pages: dict):
        self.pages = dict(pages)
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                site.requests.append(self.path)
                page = site.pages.get(self.path)
                if callable(page):  # a page computed per request (slow pages, counters, ...)
                    page = page()
                if page is None:
                    page = (404, {"Content-Type": "text/html"}, b"not found")
                if not isinstance(page, tuple):
                    page = (200, {}, page)
                status, headers, body = page
                if isinstance(body, str):
                    body = body.encode("utf-8")
                headers = {"Content-Type": "text/html; charset=utf-8", **headers}
                self.send_response(status)
                for name, value in headers.items():
                    for v in value if isinstance(value, list) else [value]:
                        self.send_header(name, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback_site():
    """Factory: loopback_site({'/': '<html>...'}) -> LoopbackSite with .url; closed after the test."""
    sites = []

    def make(pages):
        site = LoopbackSite(pages)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


@pytest.fixture(scope="session")
def demo_sites():
    """The bundled demo sites on free loopback ports: {site id: base URL}."""
    from scanner.demo.server import demo_sites as manifest, serve_demo_sites

    with serve_demo_sites(ports={s["id"]: 0 for s in manifest()}) as urls:
        yield urls


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_targets_file(demo_sites, tmp_path_factory):
    """targets/demo.yaml rewritten to the ports the demo sites were served on."""
    data = yaml.safe_load((ROOT / "targets" / "demo.yaml").read_text(encoding="utf-8"))
    for target in data["targets"]:
        if target["id"] in demo_sites:
            target["homepage"] = demo_sites[target["id"]]
        else:  # the unreachable one: a port nothing listens on
            target["homepage"] = f"http://127.0.0.1:{_free_port()}/"
    path = tmp_path_factory.mktemp("targets") / "demo.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def run_cli(*args, check=True, timeout=300, input=None) -> subprocess.CompletedProcess:
    """Run `scanner ARGS` in a subprocess (one Twisted reactor per process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCANNER_LOOPBACK_ONLY": "1"}
    result = subprocess.run(SCANNER + [str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT, env=env, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"scanner {' '.join(map(str, args))} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def demo_scan_db(demo_targets_file, tmp_path_factory):
    """One scan of the demo sites, shared by the tests that only read its results."""
    db_path = tmp_path_factory.mktemp("scan") / "results.db"
    run_cli("scan", demo_targets_file, "--db", db_path, "--allow-private")
    return db_path
