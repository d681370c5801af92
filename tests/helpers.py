"""Helpers the test files share: paths, a loopback site, free ports, targets files, and running
the CLI in process (CliRunner) or, for crawls, in a subprocess (one Twisted reactor per process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
PAGES = TESTS / "pages"
DATA = TESTS / "data"
SCANNER = [sys.executable, "-m", "scanner.cli"]
CRAWLING_COMMANDS = ("scan", "demo")
# Set by conftest before each test's setup: whether the test is marked `crawl`.
current_test = {"name": None, "marked_crawl": True}


def require_crawl_marker(what: str) -> None:
    """Fail a test that crawls without the `crawl` marker: `pytest -m "not crawl"` must stay fast."""
    if not current_test["marked_crawl"]:
        raise AssertionError(f"{current_test['name']} runs {what}: mark it @pytest.mark.crawl "
                             "(or its file: pytestmark = pytest.mark.crawl)")


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a child Python: the checkout importable, crawls confined to loopback."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "SCANNER_LOOPBACK_ONLY": "1", **extra}


def run_cli(*args, check=True, timeout=300, input=None) -> subprocess.CompletedProcess:
    """Run `scanner ARGS` in a subprocess: for commands that crawl or must be a process of their own."""
    if args and args[0] in CRAWLING_COMMANDS:
        require_crawl_marker(f"`scanner {args[0]}`")
    result = subprocess.run(SCANNER + [str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT, env=subprocess_env(), input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"scanner {' '.join(map(str, args))} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def invoke(*args, input=None) -> Result:
    """Run `scanner ARGS` in this process with click's CliRunner (commands that do not crawl)."""
    from scanner.cli import cli

    if args and args[0] in CRAWLING_COMMANDS:
        require_crawl_marker(f"`scanner {args[0]}`")
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def run_scrapy_crawl(spider: str, targets: Path, db_path: Path, timeout=300) -> subprocess.CompletedProcess:
    """A bare `scrapy crawl SPIDER` of a targets file into db_path, as a user in the checkout runs it."""
    require_crawl_marker(f"`scrapy crawl {spider}`")
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", spider, "-a", f"targets={targets}",
         "-s", f"SCANNER_DB={db_path}", "-s", "SCANNER_ALLOW_PRIVATE=1", "-s", "DOWNLOAD_DELAY=0",
         "-s", "LOG_LEVEL=ERROR", "-s", "RETRY_TIMES=0"],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=timeout,
    )


def free_port() -> int:
    """A loopback port nothing listens on (for unreachable targets)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_file(folder: Path, text: str, name: str = "targets.yaml") -> Path:
    """folder/name holding text as written (malformed input included); returns its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def write_targets(path: Path, *targets: dict) -> Path:
    """A targets file at path holding the given target records; returns path."""
    path.write_text(yaml.safe_dump({"targets": list(targets)}, allow_unicode=True), encoding="utf-8")
    return path


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
        # shutdown() waits for the serve loop's next poll: the default 0.5 s is paid per site.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def english_risks(text: str, rules, heading: str = "") -> set[str]:
    """The categories of the risk findings the English policy rules give a sentence (read under
    `heading`, a heading path, when given)."""
    from scanner.matching import classify

    return {f.category for f in classify(text, rules, lang="en", section=heading)
            if f.polarity == "risk"}


def sale_findings(text: str, rules, heading: str = "") -> dict:
    """polarity -> rule ids of the sale findings the English policy rules give a text."""
    from scanner.matching import classify

    found: dict = {}
    for f in classify(text, rules, lang="en", section=heading):
        if f.category == "sale":
            found.setdefault(f.polarity, []).append(f.rule_id)
    return found
