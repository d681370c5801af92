"""The browser tier on loopback pages: requests made by scripts, cookies set by JavaScript, and a
browser confined to 127.0.0.1 (every other host recorded, aborted, and unresolvable)."""

from __future__ import annotations

import asyncio
import os
import re
from types import SimpleNamespace

import pytest
import sqlite_utils

from helpers import LoopbackSite, free_port, run_cli, write_targets
from scanner.browser import (
    CONFINED_RESOLVER_RULES,
    PROXIED_RESOLVER_RULES,
    abort_outside_loopback,
    abort_unsafe_address,
    browser_problem,
    browser_settings,
    launch_options,
    unsafe_address,
)
from scanner.exitcodes import ExitCode
from scanner.resources import extract_resources

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_MISSING = browser_problem()
# Off CI a developer without Chromium gets a skip that says how to install it; on CI the
# browser tests must run, so a missing Chromium fails them instead.
skip_without_chromium = pytest.mark.skipif(
    bool(CHROMIUM_MISSING) and not ON_CI, reason=f"{CHROMIUM_MISSING} (CI=true makes this fail)",
)


def needs_chromium(test):
    """A test that launches Chromium: a crawl test, skipped off CI where Chromium is missing."""
    return pytest.mark.crawl(skip_without_chromium(test))

# The tracker hosts are assembled at run time, as tag managers do, so no HTML or inline-script
# reading can see them: only the browser's request events can.
TRACKED_PAGE = """<!doctype html>
<html><head><title>Kids Maths</title></head>
<body><h1>Maths for kids</h1><a href="/games">Games</a>
<script>
document.cookie = "js_pref=stars; path=/; max-age=3600; SameSite=Lax";
var tag = document.createElement("script");
tag.src = ["https://www.googletagmanager", "com/gtm.js?id=GTM-X"].join(".");
tag.onerror = function () { fetch("/seen?what=tag-failed"); };
document.head.appendChild(tag);
var beacon = new Image();
beacon.onerror = function () { fetch("/seen?what=beacon-failed"); };
beacon.src = "https://www." + "face" + "book.com/tr?id=1&ev=PageView";
fetch("/api/progress.json");
setTimeout(function () { new Image().src = "https://www.google-" + "analytics.com/collect?v=1"; }, 300);
</script>
</body></html>"""

GAMES_PAGE = """<!doctype html><html><body><h1>Games</h1>
<script>navigator.sendBeacon(["https://analytics.tiktok", "com/api/v2/pixel"].join("."), "x");</script>
</body></html>"""


def tracked_site() -> LoopbackSite:
    site = LoopbackSite({})
    port = site.port
    site.pages.update({
        "/": (200, {"Set-Cookie": "sid=abc123; Path=/; HttpOnly; SameSite=Strict"}, TRACKED_PAGE),
        "/games": GAMES_PAGE,
        "/api/progress.json": (200, {"Content-Type": "application/json"}, "{}"),
        "/seen?what=tag-failed": "ok",
        "/seen?what=beacon-failed": "ok",
        "/leave": (302, {"Location": f"http://127.0.0.2:{port}/"}, ""),
    })
    return site


def child_targets(homepage: str, **more: str) -> list[dict]:
    """kids-maths at homepage, plus {id: homepage} child-directed targets."""
    return [{"id": target_id, "name": target_id, "audience": "child-directed", "homepage": url}
            for target_id, url in {"kids-maths": homepage, **more}.items()]


@pytest.fixture(scope="module")
def browser_scan(tmp_path_factory):
    """One `scan --browser --allow-private` of the tracked loopback site (one Chromium launch)."""
    if CHROMIUM_MISSING and not ON_CI:
        pytest.skip(CHROMIUM_MISSING)
    site = tracked_site()
    tmp = tmp_path_factory.mktemp("browser")
    # Two that fail in the browser: nothing listening, and a redirect off 127.0.0.1 (127.0.0.2
    # is loopback too, so even Scrapy's own plain-HTTP policy fetch of it stays on the machine).
    targets = write_targets(tmp / "targets.yaml", *child_targets(
        site.url + "/", **{"closed-port": f"http://127.0.0.1:{free_port()}/", "redirector": site.url + "/leave"}))
    db_path = tmp / "results.db"
    try:
        # INFO: the crawl's closing stats dump is how the test sees the route aborts.
        result = run_cli("scan", targets, "--db", db_path, "--allow-private", "--browser",
                         "--log-level", "INFO", timeout=120)
        yield SimpleNamespace(db=sqlite_utils.Database(db_path), site=site, log=result.stderr)
    finally:
        site.close()


@needs_chromium
def test_script_injected_requests_are_recorded_with_entities(browser_scan):
    rows = {
        (r["host"], r["entity"], r["via"])
        for r in browser_scan.db["third_parties"].rows_where("target_id = 'kids-maths'")
    }
    assert ("www.googletagmanager.com", "Google", "browser") in rows      # injected <script>
    assert ("www.facebook.com", "Meta", "browser") in rows               # new Image() beacon
    assert ("www.google-analytics.com", "Google", "browser") in rows     # fired 300 ms after load
    games = {r["host"] for r in browser_scan.db["third_parties"].rows_where(
        "page_url LIKE '%/games' AND via = 'browser'")}
    assert games == {"analytics.tiktok.com"}                             # sendBeacon, linked page


@needs_chromium
def test_tracker_findings_name_the_browser(browser_scan):
    evidence = [r["evidence"] for r in browser_scan.db["findings"].rows_where(
        "source = 'tracker' AND target_id = 'kids-maths'")]
    assert any(e.startswith("browser https://www.facebook.com/tr") for e in evidence), evidence


@needs_chromium
def test_first_party_requests_are_not_third_parties(browser_scan):
    hosts = {r["host"] for r in browser_scan.db["third_parties"].rows}
    assert "127.0.0.1" not in hosts and "127.0.0.2" not in hosts
    # ...yet the page's own fetch did run in the browser: JavaScript executed.
    assert "/api/progress.json" in browser_scan.site.requests


@needs_chromium
def test_static_tier_would_not_see_the_script_built_requests(browser_scan):
    static = extract_resources(TRACKED_PAGE, "http://127.0.0.1/")
    static_hosts = {r.url.split("/")[2] for r in static}
    assert not static_hosts & {"www.facebook.com", "www.googletagmanager.com",
                               "www.google-analytics.com"}


@needs_chromium
def test_cookies_set_by_javascript_and_headers_are_recorded(browser_scan):
    cookies = {r["name"]: r for r in browser_scan.db["cookies"].rows_where("target_id = 'kids-maths'")}
    assert cookies["js_pref"]["via"] == "browser"
    assert cookies["js_pref"]["samesite"] == "Lax"
    assert cookies["js_pref"]["expires"]                 # max-age=3600: not a session cookie
    assert cookies["sid"]["http_only"] == 1 and cookies["sid"]["samesite"] == "Strict"
    assert cookies["sid"]["expires"] is None
    assert {c["domain"] for c in cookies.values()} == {"127.0.0.1"}
    assert all(c["third_party"] == 0 for c in cookies.values())
    # one row per cookie per target, however many pages of it were loaded
    assert browser_scan.db["cookies"].count_where("target_id = 'kids-maths' AND name = 'js_pref'") == 1


@needs_chromium
def test_requests_beyond_loopback_were_recorded_then_aborted(browser_scan):
    # The first wall: the route abort fired once for each recorded request beyond loopback
    # (the resolver rule alone would fail them too, but without counting as aborted).
    aborted = re.findall(r"'playwright/request_count/aborted': (\d+)", browser_scan.log)
    recorded = browser_scan.db.execute(
        "SELECT count(DISTINCT request_url) FROM third_parties WHERE via = 'browser'").fetchone()[0]
    assert recorded == 4
    assert [int(n) for n in aborted] == [recorded]
    # The page itself saw them fail: their onerror handlers told the loopback server.
    assert "/seen?what=tag-failed" in browser_scan.site.requests
    assert "/seen?what=beacon-failed" in browser_scan.site.requests


@needs_chromium
def test_failed_page_loads_are_one_line_and_the_scan_goes_on(browser_scan):
    errors = {r["target_id"]: r["error"] for r in browser_scan.db.query(
        "SELECT target_id, error FROM fetches WHERE error LIKE 'browser: %'")}
    assert errors["closed-port"].startswith("browser: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:")
    # Playwright never routes a redirect hop: the resolver rule is what stopped this one.
    assert errors["redirector"].startswith("browser: net::ERR_NAME_NOT_RESOLVED at ")
    assert "reaches 127.0.0.1 only" in errors["redirector"]
    assert all("\n" not in e for e in errors.values())
    scores = {r["target_id"]: r["status"] for r in browser_scan.db["scores"].rows}
    assert scores["closed-port"] == "unreachable"
    assert scores["kids-maths"] != "unreachable"


@needs_chromium
def test_the_policy_and_browser_crawlers_fetch_robots_txt_once(browser_scan):
    # scanner/shared_downloads.py: what both crawlers of a --browser scan ask for, downloaded once
    assert browser_scan.site.requests.count("/robots.txt") == 1


@needs_chromium
def test_pages_are_fetched_and_followed_in_the_browser(browser_scan):
    fetched = {(r["url"].split("/", 3)[-1], r["status"]) for r in browser_scan.db["fetches"].rows_where(
        "kind = 'page' AND error IS NULL")}
    assert ("", 200) in fetched and ("games", 200) in fetched
    scan = next(browser_scan.db["scans"].rows)
    assert scan["status"] == "complete" and '"browser": true' in scan["options"]


@needs_chromium
def test_confined_browser_cannot_resolve_any_other_host(loopback_site):
    """The second wall: even a request the route abort never sees (a popup, a worker, a
    preconnect) cannot reach DNS or any address but 127.0.0.1 in the confined browser."""
    from playwright.sync_api import sync_playwright

    site = loopback_site({"/": "<html><body>home</body></html>", "/ok": "ok"})
    failures = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options(allow_private=True))
        try:
            page = browser.new_page()
            page.on("requestfailed", lambda r: failures.setdefault(r.url, r.failure))
            page.goto(site.url + "/")
            fetch = "u => fetch(u).then(r => r.status, e => 'failed')"
            assert page.evaluate(fetch, site.url + "/ok") == 200
            # 127.0.0.2 is loopback too, so nothing leaves the machine; an unconfined Chromium
            # answers ERR_CONNECTION_REFUSED here (it connected), the confined one never tries.
            other_ip = f"http://127.0.0.2:{site.port}/ok"
            # *.localhost resolves inside Chromium without DNS, so only the rule can stop it.
            other_name = f"http://tracker.localhost:{site.port}/ok"
            assert page.evaluate(fetch, other_ip) == "failed"
            assert page.evaluate(fetch, other_name) == "failed"
        finally:
            browser.close()
    assert failures[other_ip] == "net::ERR_NAME_NOT_RESOLVED"
    assert failures[other_name] == "net::ERR_NAME_NOT_RESOLVED"
    assert site.requests.count("/ok") == 1


@needs_chromium
def test_real_scan_browser_cannot_reach_private_address_literals(loopback_site):
    """Without --allow-private every connection goes through the guard proxy, which refuses
    loopback, private and link-local addresses, so a redirect hop (which the route abort never
    sees) cannot reach them either."""
    from playwright.sync_api import sync_playwright

    site = loopback_site({"/ok": "ok"})
    urls = [f"http://127.0.0.1:{site.port}/ok", f"http://[::1]:{site.port}/ok",
            f"http://localhost:{site.port}/ok", f"http://2130706433:{site.port}/ok"]
    failures = []
    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options(allow_private=False))
        try:
            page = browser.new_page()
            page.on("requestfailed", lambda r: failures.append(r.failure))
            page.set_content("<html><body>public page</body></html>")
            for url in urls:
                assert page.evaluate("u => fetch(u).then(r => r.status, e => 'failed')", url) == "failed"
        finally:
            browser.close()
    assert failures == ["net::ERR_SOCKS_CONNECTION_FAILED"] * len(urls)
    assert site.requests == []


def test_confinement_is_in_the_launch_options_only_with_allow_private():
    confined = browser_settings(allow_private=True)
    args = confined["PLAYWRIGHT_LAUNCH_OPTIONS"]["args"]
    assert f"--host-resolver-rules={CONFINED_RESOLVER_RULES}" in args
    assert CONFINED_RESOLVER_RULES.startswith("MAP * ~NOTFOUND")
    assert confined["PLAYWRIGHT_ABORT_REQUEST"] == "scanner.browser.abort_outside_loopback"
    assert confined["PLAYWRIGHT_LAUNCH_OPTIONS"]["executable_path"] == "/usr/bin/chromium"
    real = browser_settings(allow_private=False)
    real_args = real["PLAYWRIGHT_LAUNCH_OPTIONS"]["args"]
    # Chromium resolves nothing but the guard proxy, and loopback is not exempt from the proxy.
    assert f"--host-resolver-rules={PROXIED_RESOLVER_RULES}" in real_args
    assert any(a.startswith("--proxy-server=socks5://127.0.0.1:") for a in real_args)
    assert "--proxy-bypass-list=<-loopback>" in real_args
    assert real["PLAYWRIGHT_ABORT_REQUEST"] == "scanner.browser.abort_unsafe_address"


@pytest.mark.parametrize("url, aborted", [
    ("http://127.0.0.1:8701/", False),
    ("http://localhost:8701/app.js", False),
    ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", False),
    ("https://www.facebook.com/tr?id=1", True),
    ("http://127.0.0.2:8701/", True),          # not what the resolver rule lets through either
    ("http://127.0.0.1.nip.io/", True),        # a public name that resolves to loopback
    ("http://[::1]:8701/", True),
])
def test_confined_abort_predicate(url, aborted):
    assert abort_outside_loopback(SimpleNamespace(url=url)) is aborted


@pytest.mark.parametrize("url, refused", [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.1/admin", "private"),
    ("http://127.0.0.1:8701/", "private or loopback"),
    ("ws://192.168.1.1/", "private"),
    ("file:///etc/passwd", "scheme"),
    ("http://93.184.216.34/pixel.gif", None),   # an IP literal: checked without any lookup
    ("data:text/plain,hi", None),
])
def test_real_scan_browser_keeps_the_address_guard(url, refused):
    problem = unsafe_address(url)
    if refused is None:
        assert problem is None
    else:
        assert refused in problem
    assert asyncio.run(abort_unsafe_address(SimpleNamespace(url=url))) is (refused is not None)


@needs_chromium
def test_browser_scan_without_allow_private_refuses_loopback(tmp_path):
    site = tracked_site()
    try:
        targets = write_targets(tmp_path / "targets.yaml", *child_targets(site.url + "/"))
        result = run_cli("scan", targets, "--db", tmp_path / "r.db", "--browser", timeout=120,
                         check=False)
    finally:
        site.close()
    # Every target refused is every target unreachable: the scan's exit code says so.
    assert result.returncode == ExitCode.ALL_UNREACHABLE, result.stderr
    db = sqlite_utils.Database(tmp_path / "r.db")
    errors = [r["error"] for r in db["fetches"].rows_where("kind = 'page'")]
    assert errors and all("private or loopback" in e for e in errors), errors
    assert site.requests == []
    assert db["third_parties"].count == 0


def test_missing_chromium_is_one_clear_line(tmp_path):
    assert browser_problem(str(tmp_path / "no-chromium")).startswith("--browser needs Chromium at")
    assert "make browser" in browser_problem(str(tmp_path / "no-chromium"))


def test_chromium_is_installed_on_ci():
    if not ON_CI:
        pytest.skip("only CI must have Chromium (make browser installs it)")
    assert CHROMIUM_MISSING is None, CHROMIUM_MISSING
