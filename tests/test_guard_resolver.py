"""The address guard checks the address that is connected to: Scrapy's resolver looks each host
up once, and only the checked addresses reach the connection (no DNS-rebinding window).

No packet leaves 127.0.0.0/8: the crawl subprocess answers test names from a table
(socket.getaddrinfo is replaced, any other name fails without a query) and refuses and records
any connection beyond loopback. 127.0.0.2 plays the hostile address: the guard is told to
refuse it, and a second site listens there to show whether anything reached it.
"""

import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlite_utils

from helpers import ROOT, subprocess_env, write_targets

STUB_NETWORK = textwrap.dedent('''
    """Loaded by the crawl subprocess: test names from a table, 127.0.0.2 refused by the guard,
    no connection beyond loopback."""
    import ipaddress, os, socket

    _getaddrinfo, _connect = socket.getaddrinfo, socket.socket.connect
    _answers = {"rebind.test": ["127.0.0.1", "127.0.0.2"], "hostile.test": ["127.0.0.2"],
                "metadata.test": ["169.254.169.254"]}

    def _note(name, line):
        with open(os.environ[name], "a") as fh:
            fh.write(line + "\\n")

    def getaddrinfo(host, port, *args, **kwargs):
        host = host.decode() if isinstance(host, bytes) else host
        if host in _answers:
            _note("SCANNER_TEST_LOOKUPS", host)
            # The first answer is safe, every later one is the hostile address: DNS rebinding.
            answers = _answers[host]
            ip = answers.pop(0) if len(answers) > 1 else answers[0]
            return _getaddrinfo(ip, port, *args, **kwargs)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, "stub: unknown host " + host)
        return _getaddrinfo(host, port, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple) and not ipaddress.ip_address(address[0]).is_loopback:
            _note("SCANNER_TEST_ATTEMPTS", address[0])
            raise OSError("test socket guard: refused " + address[0])
        return _connect(self, address)

    socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect

    import scanner.safety

    _refusal = scanner.safety.address_refusal

    def address_refusal(ip, allow_private, loopback_only=False):
        if ip == "127.0.0.2":
            return "refused by this test"
        return _refusal(ip, allow_private, loopback_only)

    scanner.safety.address_refusal = address_refusal
''')

POLICY = ("<html><body><main><h1>Privacy Policy</h1><p>We collect your email address and "
          "share personal information with advertising partners. {marker}</p></main></body></html>")


def serve(host: str, port: int, marker: str, redirect: str | None = None):
    """A site on host:port whose homepage links its policy, and whose /go redirects to
    `redirect`; returns (server, requested paths)."""
    requests: list[str] = []
    pages = {"/": "<html><body><footer><a href='/privacy'>Privacy Policy</a></footer></body></html>",
             "/privacy": POLICY.format(marker=marker)}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            if self.path == "/go" and redirect:
                self.send_response(302)
                self.send_header("Location", redirect.format(port=self.server.server_address[1]))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = pages.get(self.path, "not found").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server, requests


@pytest.mark.crawl
def test_the_crawl_connects_to_the_checked_address_and_refuses_hostile_names(tmp_path):
    checked, checked_requests = serve("127.0.0.1", 0, "CHECKED-SITE")
    port = checked.server_address[1]
    hostile, hostile_requests = serve("127.0.0.2", port, "HOSTILE-SITE")
    try:
        targets = write_targets(tmp_path / "targets.yaml", *[
            {"id": name.split(".")[0], "name": name, "audience": "general",
             "homepage": f"http://{name}:{port}/"}
            for name in ("rebind.test", "hostile.test", "metadata.test")])
        guard_dir = tmp_path / "guard"
        guard_dir.mkdir()
        (guard_dir / "sitecustomize.py").write_text(STUB_NETWORK)
        lookups, attempts = tmp_path / "lookups.txt", tmp_path / "attempts.txt"
        env = subprocess_env(PYTHONPATH=f"{guard_dir}{os.pathsep}{ROOT}",
                             SCANNER_TEST_LOOKUPS=str(lookups), SCANNER_TEST_ATTEMPTS=str(attempts))
        # Host names go to the resolver only outside loopback confinement, which refuses every
        # name before a lookup; the stub above keeps this run on loopback instead.
        del env["SCANNER_LOOPBACK_ONLY"]
        db_path = tmp_path / "results.db"
        result = subprocess.run(
            [sys.executable, "-m", "scanner.cli", "scan", str(targets), "--db", str(db_path),
             "--allow-private", "--max-pages", "1"],
            capture_output=True, text=True, timeout=180, cwd=ROOT, env=env)
    finally:
        checked.shutdown()
        hostile.shutdown()
    assert db_path.exists(), result.stderr
    assert not attempts.exists(), attempts.read_text()  # nothing beyond loopback was tried
    looked_up = lookups.read_text().split()
    # One lookup per name for the whole scan (two spiders, robots.txt, retries): nothing to rebind.
    assert sorted(looked_up) == ["hostile.test", "metadata.test", "rebind.test"]
    assert hostile_requests == []
    assert "/privacy" in checked_requests

    db = sqlite_utils.Database(db_path)
    [text] = [r[0] for r in db.execute(
        "SELECT d.text FROM fetches f JOIN documents d ON d.id = f.document_id "
        "WHERE f.target_id = 'rebind' AND f.kind = 'policy'")]
    assert "CHECKED-SITE" in text

    def errors(target):
        return {r[0] for r in db.execute(
            "SELECT error FROM fetches WHERE target_id = ? AND error IS NOT NULL", [target])}

    hostile_errors, metadata_errors = errors("hostile"), errors("metadata")
    assert hostile_errors and all(
        f"refused http://hostile.test:{port}/: resolves to 127.0.0.2 (refused by this test)" in e
        for e in hostile_errors), hostile_errors
    assert metadata_errors and all(
        f"refused http://metadata.test:{port}/: resolves to 169.254.169.254 (link-local)" in e
        for e in metadata_errors), metadata_errors


@pytest.mark.parametrize("answer, allow_private, loopback_only, refusal", [
    (["93.184.216.34"], False, False, None),
    (["169.254.169.254"], True, False, "resolves to 169.254.169.254 (link-local)"),
    (["93.184.216.34", "10.0.0.5"], False, False, "resolves to 10.0.0.5 (private or loopback"),
    (["10.0.0.5"], True, False, None),
    (["10.0.0.5"], True, True, "resolves to 10.0.0.5 (not loopback"),
    (["127.0.0.3", "::1"], True, True, None),
    (["::ffff:169.254.169.254"], True, True, "(link-local)"),
])
def test_resolver_hands_over_only_checked_addresses(monkeypatch, answer, allow_private,
                                                    loopback_only, refusal):
    from scanner import resolver

    monkeypatch.setattr(resolver, "lookup", lambda host: list(answer))
    guarded = resolver.GuardedResolver(None, allow_private, loopback_only)
    addresses, problem = guarded.checked_addresses("any.test")
    if refusal is None:
        assert (addresses, problem) == (answer, None)
    else:
        assert addresses == [] and refusal in problem


def test_a_download_connects_only_to_an_address_checked_at_connection_time(monkeypatch, tmp_path):
    import socket

    from scanner.download import DownloadError, stream_to_file
    from scanner.safety import url_problem

    checked, checked_requests = serve("127.0.0.1", 0, "CHECKED-SITE")
    port = checked.server_address[1]
    hostile, hostile_requests = serve("127.0.0.2", port, "HOSTILE-SITE")
    real_getaddrinfo = socket.getaddrinfo
    answers = {"rebind.test": ["127.0.0.1", "127.0.0.2"], "safe.test": ["127.0.0.1"]}

    def rebinding_getaddrinfo(host, *args, **kwargs):
        # The first answer is safe, every later one the hostile address; other names: literals.
        if host in answers:
            host = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)

    def check(url):
        problem = url_problem(url, allow_private=True)
        return problem or ("127.0.0.2 is refused by this test" if "127.0.0.2" in url else None)

    options = {"check": check, "max_bytes": 1 << 20, "timeout": 10, "user_agent": "test"}
    try:
        stream_to_file(f"http://safe.test:{port}/privacy", tmp_path / "safe.html", **options)
        with pytest.raises(DownloadError) as refused:
            stream_to_file(f"http://rebind.test:{port}/privacy", tmp_path / "rebind.html", **options)
    finally:
        checked.shutdown()
        hostile.shutdown()
    assert "CHECKED-SITE" in (tmp_path / "safe.html").read_text()
    # The URL check saw 127.0.0.1; the connection's own lookup got 127.0.0.2 and refused it.
    assert str(refused.value) == (f"http://rebind.test:{port}/privacy: refused: rebind.test "
                                  "resolves to 127.0.0.2 is refused by this test")
    assert hostile_requests == [] and not (tmp_path / "rebind.html").exists()
    assert checked_requests == ["/privacy"]


def test_browser_connections_go_to_the_address_the_guard_checked(monkeypatch):
    """A real-scan Chromium: a loopback page redirecting to a host name that resolves to a refused
    address is refused (the route abort never sees a redirect hop), and a rebinding name is
    connected to at the address first checked."""
    from scanner import browser, resolver, safety

    if browser.browser_problem() and not os.environ.get("CI"):
        pytest.skip(browser.browser_problem())
    from playwright.sync_api import sync_playwright

    checked, checked_requests = serve("127.0.0.1", 0, "CHECKED-SITE",
                                      redirect="http://hostile.test:{port}/privacy")
    port = checked.server_address[1]
    hostile, hostile_requests = serve("127.0.0.2", port, "HOSTILE-SITE")
    answers = {"page.test": ["127.0.0.1"], "hostile.test": ["127.0.0.2"],
               "rebind.test": ["127.0.0.1", "127.0.0.2"]}
    looked_up = []

    def table_lookup(host):
        looked_up.append(host)
        if host not in answers:
            raise OSError(f"no such test host {host}")
        return [answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]]

    real_refusal = safety.address_refusal

    def refusal(ip, allow_private, loopback_only=False):
        # This real-scan browser may reach the test sites on 127.0.0.1, never 127.0.0.2.
        return {"127.0.0.1": None, "127.0.0.2": "refused by this test"}.get(
            ip, real_refusal(ip, allow_private, loopback_only))

    monkeypatch.setattr(resolver, "lookup", table_lookup)
    monkeypatch.setattr(safety, "address_refusal", refusal)
    monkeypatch.setattr(resolver, "_browser_proxy", None)  # a proxy with this test's answers
    from playwright.sync_api import Error as PlaywrightError

    with sync_playwright() as p:
        chromium = p.chromium.launch(**browser.launch_options(allow_private=False))
        try:
            page = chromium.new_page()
            assert page.goto(f"http://rebind.test:{port}/").status == 200
            assert "CHECKED-SITE" in page.goto(f"http://rebind.test:{port}/privacy").text()
            assert page.goto(f"http://page.test:{port}/").status == 200
            with pytest.raises(PlaywrightError, match="ERR_SOCKS_CONNECTION_FAILED"):
                page.goto(f"http://page.test:{port}/go")
        finally:
            chromium.close()
            checked.shutdown()
            hostile.shutdown()
    assert "/go" in checked_requests and hostile_requests == []  # the redirect was sent, not followed
    assert safety.refusal_for("hostile.test") == "resolves to 127.0.0.2 (refused by this test)"
    assert looked_up.count("rebind.test") == 1 and looked_up.count("hostile.test") == 1
    assert checked_requests.count("/privacy") == 1  # rebind.test's second fetch, at 127.0.0.1


def test_a_browser_page_the_guard_proxy_refused_says_so():
    from scanner.browser import describe_browser_failure

    message = "Page.goto: net::ERR_SOCKS_CONNECTION_FAILED at http://page.test/go\nCall log: ..."
    assert describe_browser_failure(message, confined=False) == (
        "browser: net::ERR_SOCKS_CONNECTION_FAILED at http://page.test/go "
        "(refused by the address guard, or unreachable)")


def test_a_browser_page_names_why_the_guard_proxy_refused_its_host():
    from scanner import safety
    from scanner.browser import describe_browser_failure

    safety.note_refusal("metadata.test", "resolves to 169.254.169.254 (link-local)")
    message = "Page.goto: net::ERR_SOCKS_CONNECTION_FAILED at http://metadata.test/x\nCall log: ..."
    assert describe_browser_failure(message, confined=False) == (
        "browser: net::ERR_SOCKS_CONNECTION_FAILED at http://metadata.test/x "
        "(refused by the address guard: resolves to 169.254.169.254 (link-local))")
