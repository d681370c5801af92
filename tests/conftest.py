"""Shared fixtures: a network guard, loopback sites, temporary databases, the demo sites and one
scan of them; and the `crawl` marker put on every test that uses a crawling fixture."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile

import pytest
import yaml

from helpers import ROOT, LoopbackSite, current_test, free_port, run_cli

# Every crawl the tests start, in this process or a subprocess, is confined to loopback.
os.environ["SCANNER_LOOPBACK_ONLY"] = "1"
# The compiled rules cache of this run only (subprocess scans inherit it): a cache left in the
# user's home by another version of the code is never what a test reads.
os.environ["SCANNER_CACHE_DIR"] = tempfile.mkdtemp(prefix="scanner-test-cache-")

# Fixtures that run a crawl (or serve sites only a crawl reads): a test using one, directly or
# through another fixture, is a crawl test whatever its file says. Two scans of test_diff.py.
CRAWL_FIXTURES = {"demo_scan_db", "demo_targets_file", "two_scans"}


def pytest_collection_modifyitems(items):
    for item in items:
        if CRAWL_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.crawl)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of the test runs: the helpers that crawl check the test is marked."""
    current_test.update(name=item.nodeid, marked_crawl=item.get_closest_marker("crawl") is not None)


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


@pytest.fixture
def db_path(tmp_path):
    """Where a test's results database goes (not created)."""
    return tmp_path / "results.db"


@pytest.fixture
def db(db_path):
    """An empty results database with every migration applied."""
    from scanner import store

    return store.open_db(db_path)


@pytest.fixture(scope="session")
def demo_sites():
    """The bundled demo sites on free loopback ports: {site id: base URL}."""
    from scanner.demo.server import demo_sites as manifest, serve_demo_sites

    with serve_demo_sites(ports={s["id"]: 0 for s in manifest()}) as urls:
        yield urls


@pytest.fixture(scope="session")
def demo_targets_file(demo_sites, tmp_path_factory):
    """targets/demo.yaml rewritten to the ports the demo sites were served on."""
    from urllib.parse import urlsplit

    from scanner.demo.apkbuild import ApkBuilder, missing_tools
    from scanner.demo.apps import DEMO_APPS

    data = yaml.safe_load((ROOT / "targets" / "demo.yaml").read_text(encoding="utf-8"))
    for target in data["targets"]:
        if target["id"] in demo_sites:
            target["homepage"] = demo_sites[target["id"]]
        else:  # the unreachable one: a port nothing listens on
            target["homepage"] = f"http://127.0.0.1:{free_port()}/"
        android = target.get("android")
        if android:  # the demo app: its store page on the demo store's port, its APK built
            store = urlsplit(android["store_url"])
            android["store_url"] = demo_sites["app-store"].rstrip("/") + store.path + "?" + store.query
            if target["id"] in DEMO_APPS and not missing_tools():
                apk = ApkBuilder(tmp_path_factory.mktemp("apks")).build(DEMO_APPS[target["id"]])
                android["apk"] = str(apk)
    path = tmp_path_factory.mktemp("targets") / "demo.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def demo_scan_db(demo_targets_file, tmp_path_factory):
    """One scan of the demo sites, shared by the tests that only read its results."""
    db_path = tmp_path_factory.mktemp("scan") / "results.db"
    run_cli("scan", demo_targets_file, "--db", db_path, "--allow-private")
    return db_path
