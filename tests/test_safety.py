"""The download guard: private, loopback and link-local addresses, redirects included.

No test here sends traffic beyond 127.0.0.0/8: names resolve through a stub, the crawl
subprocess runs with a socket guard that refuses (and records) any other connection.
"""

import os
import subprocess
import sys
import textwrap

import pytest
import sqlite_utils
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from helpers import ROOT, run_cli, subprocess_env, write_targets
from scanner.exitcodes import ExitCode
from scanner.safety import AddressGuardMiddleware, UnsafeAddress, address_problem, url_problem

STUB_DNS = {
    "public.test": ["93.184.216.34"],
    "intranet.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["93.184.216.34", "192.168.1.1"],
    "v6-link-local.test": ["fe80::1"],
}


def stub_resolver(host):
    if host in STUB_DNS:
        return STUB_DNS[host]
    if host[0].isdigit() or ":" in host:
        return [host]
    raise OSError(f"stub resolver: unknown host {host}")


@pytest.mark.parametrize("ip, allowed, refused_with_allow_private", [
    ("93.184.216.34", True, False),
    ("2606:2800:220:1::1", True, False),
    ("10.0.0.5", False, False),
    ("192.168.1.1", False, False),
    ("172.16.0.1", False, False),
    ("127.0.0.1", False, False),
    ("::1", False, False),
    ("169.254.169.254", False, True),
    ("fe80::1", False, True),
    ("::ffff:169.254.169.254", False, True),
    ("0.0.0.0", False, True),
    ("100.64.0.1", False, False),
    ("2002:a9fe:a9fe::1", False, True),
    ("64:ff9b::a9fe:a9fe", False, True),
    ("224.0.0.1", False, True),
])
def test_address_check(ip, allowed, refused_with_allow_private):
    assert (address_problem(ip, allow_private=False) is None) == allowed
    assert (address_problem(ip, allow_private=True) is not None) == refused_with_allow_private


def test_link_local_is_refused_always_and_says_so():
    assert "link-local" in address_problem("169.254.169.254", allow_private=True)


def test_url_check_resolves_names_and_refuses_if_any_address_is_unsafe():
    assert url_problem("https://public.test/privacy", False, resolver=stub_resolver) is None
    assert "private" in url_problem("http://intranet.test/", False, resolver=stub_resolver)
    assert url_problem("http://intranet.test/", True, resolver=stub_resolver) is None
    assert "link-local" in url_problem("http://metadata.test/latest/", True, resolver=stub_resolver)
    assert "192.168.1.1" in url_problem("http://mixed.test/", False, resolver=stub_resolver)
    assert "link-local" in url_problem("http://v6-link-local.test/", True, resolver=stub_resolver)
    assert "link-local" in url_problem("http://[fe80::1]:8080/", True, resolver=stub_resolver)
    assert "cannot resolve" in url_problem("http://nowhere.test/", False, resolver=stub_resolver)
    assert "scheme" in url_problem("file:///etc/passwd", True, resolver=stub_resolver)
    assert "scheme" in url_problem("ftp://public.test/", True, resolver=stub_resolver)


def test_redirect_to_link_local_is_refused_before_any_connection():
    redirects = RedirectMiddleware.from_crawler(get_crawler(settings_dict={"REDIRECT_MAX_TIMES": 5}))
    guard = AddressGuardMiddleware(allow_private=True)
    first = Request("http://127.0.0.1:8000/privacy")
    assert guard.process_request(first) is None
    response = HtmlResponse(first.url, status=302, request=first,
                            headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    follow_up = redirects.process_response(first, response)
    assert isinstance(follow_up, Request) and "169.254.169.254" in follow_up.url
    with pytest.raises(UnsafeAddress, match="link-local"):
        guard.process_request(follow_up)


SOCKET_GUARD = textwrap.dedent('''
    """Loaded by the crawl subprocess: refuse and record any connection beyond loopback."""
    import ipaddress, os, socket

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _check(address):
        host = address[0] if isinstance(address, tuple) else None
        if host is None:
            return
        if not ipaddress.ip_address(host).is_loopback:
            with open(os.environ["SCANNER_TEST_ATTEMPTS"], "a") as fh:
                fh.write(host + "\\n")
            raise OSError("test socket guard: refused " + host)

    def connect(self, address):
        _check(address)
        return _connect(self, address)

    def connect_ex(self, address):
        _check(address)
        return _connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
''')


@pytest.mark.crawl
def test_crawl_refuses_a_redirect_to_the_metadata_address(loopback_site, tmp_path):
    site = loopback_site({
        "/": "<html><body><footer><a href='/privacy'>Privacy Policy</a></footer></body></html>",
        "/privacy": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
    })
    targets_file = write_targets(tmp_path / "targets.yaml", {
        "id": "ssrf", "name": "SSRF", "audience": "general", "homepage": site.url + "/"})
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(SOCKET_GUARD)
    attempts = tmp_path / "attempts.txt"
    db_path = tmp_path / "results.db"
    env = subprocess_env(PYTHONPATH=f"{guard_dir}{os.pathsep}{ROOT}", SCANNER_TEST_ATTEMPTS=str(attempts))
    result = subprocess.run(
        [sys.executable, "-m", "scanner.cli", "scan", str(targets_file), "--db", str(db_path),
         "--allow-private"], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert not attempts.exists(), attempts.read_text()   # refused before any connection
    db = sqlite_utils.Database(db_path)
    [(url, final_url, error)] = db.execute(
        "SELECT url, final_url, error FROM fetches WHERE kind = 'policy'").fetchall()
    assert url == site.url + "/privacy"
    assert final_url.startswith("http://169.254.169.254/")
    assert "link-local" in error


@pytest.mark.crawl
def test_private_addresses_are_refused_without_allow_private(loopback_site, tmp_path):
    site = loopback_site({"/": "<html><body><a href='/privacy'>Privacy Policy</a></body></html>"})
    targets_file = write_targets(tmp_path / "targets.yaml", {
        "id": "local", "name": "Local", "audience": "general", "homepage": site.url + "/"})
    db_path = tmp_path / "results.db"
    result = run_cli("scan", targets_file, "--db", db_path, timeout=120, check=False)
    # Every target refused is every target unreachable: the scan's exit code says so.
    assert result.returncode == ExitCode.ALL_UNREACHABLE, result.stderr
    assert site.requests == []
    errors = [r[0] for r in sqlite_utils.Database(db_path).execute("SELECT error FROM fetches")]
    assert errors and all("--allow-private" in e for e in errors)


def test_names_are_left_to_the_guarded_resolver_unless_a_proxy_or_browser_connects(monkeypatch):
    import socket
    import sys
    from types import SimpleNamespace

    looked_up = []

    def getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setitem(sys.modules, "twisted.internet.reactor",
                        SimpleNamespace(nameResolver=SimpleNamespace(checks_addresses=True)))
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    guard = AddressGuardMiddleware(allow_private=False)
    assert guard.process_request(Request("http://public.test/")) is None
    assert looked_up == []  # checked when Scrapy connects, not here
    with pytest.raises(UnsafeAddress, match="link-local"):
        guard.process_request(Request("http://169.254.169.254/"))  # a literal: refused at once
    for meta in ({"proxy": "http://proxy.test:3128"}, {"playwright": True}):
        assert guard.process_request(Request("http://public.test/", meta=meta)) is None
    assert looked_up == ["public.test", "public.test"]


def test_a_host_the_resolver_refused_fails_with_its_reason():
    from twisted.internet.error import DNSLookupError

    from scanner.safety import note_refusal

    note_refusal("metadata.test", "resolves to 169.254.169.254 (link-local)")
    guard = AddressGuardMiddleware(allow_private=True)
    with pytest.raises(UnsafeAddress) as refused:
        guard.process_exception(Request("http://metadata.test/latest/"), DNSLookupError("no results"))
    assert str(refused.value) == ("refused http://metadata.test/latest/: "
                                  "resolves to 169.254.169.254 (link-local)")
    # A name that simply does not resolve keeps Scrapy's own error.
    assert guard.process_exception(Request("http://nowhere.test/"), DNSLookupError("x")) is None
