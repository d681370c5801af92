"""Tests and the demo are confined to loopback: any other host is refused before DNS."""

import json

import pytest
import sqlite_utils

from helpers import run_cli, write_targets
from scanner.exitcodes import ExitCode
from scanner.safety import AddressGuardMiddleware, UnsafeAddress, loopback_problem


def test_loopback_problem_judges_without_dns():
    assert loopback_problem("http://127.0.0.1:8000/") is None
    assert loopback_problem("http://127.9.9.9/") is None
    assert loopback_problem("http://localhost/x") is None
    assert loopback_problem("http://[::1]:80/") is None
    for url in ("http://10.0.0.1/", "https://www.googletagmanager.com/gtm.js", "http://169.254.169.254/"):
        assert "not a loopback address" in loopback_problem(url)


def test_guard_refuses_public_host_when_confined_even_with_allow_private():
    from scrapy import Request

    guard = AddressGuardMiddleware(allow_private=True, loopback_only=True)
    with pytest.raises(UnsafeAddress, match="not a loopback address"):
        guard.process_request(Request("https://connect.facebook.net/en_US/fbevents.js"))
    assert guard.process_request(Request("http://127.0.0.1:1/")) is None


@pytest.mark.crawl
def test_a_meta_refresh_to_a_public_host_is_recorded_as_refused(loopback_site, tmp_path):
    site = loopback_site({
        "/": '<html><head><meta http-equiv="refresh" content="0; url=https://tracker.example.com/x">'
             '</head><body><a href="/privacy">Privacy Policy</a></body></html>',
        "/privacy": "<html><body><main><h1>Privacy</h1><p>We do not sell your data.</p></main></body></html>",
    })
    targets = write_targets(tmp_path / "t.yaml", {"id": "refresh", "audience": "mixed", "homepage": site.url + "/"})
    db_path = tmp_path / "r.db"
    result = run_cli("scan", targets, "--db", db_path, "--allow-private", check=False)
    # Refused, the only target is unreachable: the scan's exit code says so.
    assert result.returncode == ExitCode.ALL_UNREACHABLE, result.stderr
    db = sqlite_utils.Database(db_path)
    errors = [r["error"] for r in db["fetches"].rows if r["error"]]
    assert any("tracker.example.com" in e and "loopback" in e for e in errors), errors
    # The confinement the environment asked for is part of the scan's recorded options.
    assert json.loads(next(db["scans"].rows)["options"])["loopback_only"] is True


def test_environment_confines_a_crawl_whatever_its_settings(monkeypatch):
    from scrapy.crawler import Crawler
    from scrapy.settings import Settings

    from scanner.options import LOOPBACK_ONLY_ENV
    from spiders.site import SiteSpider

    monkeypatch.setenv(LOOPBACK_ONLY_ENV, "1")
    settings = Settings({"SCANNER_LOOPBACK_ONLY": False})
    settings.set("SCANNER_LOOPBACK_ONLY", False, priority="cmdline")  # as `-s` would
    assert Crawler(SiteSpider, settings).settings.getbool("SCANNER_LOOPBACK_ONLY")
    monkeypatch.delenv(LOOPBACK_ONLY_ENV)
    assert not Crawler(SiteSpider, settings).settings.getbool("SCANNER_LOOPBACK_ONLY")
