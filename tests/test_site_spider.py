"""The site spider end to end on loopback pages: one `scanner scan` subprocess, then the stored
third_parties, cookies and findings rows compared with what the pages were written to do."""

import pytest
import sqlite_utils

from expected import MECHANISM_REQUESTS
from helpers import PAGES, LoopbackSite, run_cli, write_targets
from scanner.importers import import_list

pytestmark = pytest.mark.crawl

ABOUT = """<!doctype html><html><head><title>About</title></head><body>
<img src="https://beacon.tinytrack.test/b.gif?p=about" alt="">
<script src="https://www.google-analytics.com/analytics.js"></script>
<script src="https://d1abc.cloudfront.net/player.js"></script>
<a href="/privacy">Privacy</a> <a href="/missing.html">Gone</a>
</body></html>"""

POLICY = """<!doctype html><html><head><title>Privacy Policy</title></head><body><main>
<h1>Privacy Policy</h1>
<p>Kids Club is not directed to children under 13.</p>
<p>We do not sell your personal information.</p>
<p>We collect your email address when you contact us.</p>
</main></body></html>"""

COOKIES = [
    "kc_session=abc; Path=/; HttpOnly; SameSite=Strict",
    "_ga=GA1.1.123.456; Max-Age=63072000; Path=/; SameSite=Lax",
    "ad_uid=1; Domain=ads.tinytrack.test; Expires=Wed, 01 Jan 2031 00:00:00 GMT; Secure; SameSite=None",
]


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """Serve the pages, import a small filter list, scan once (shared by the tests below)."""
    tmp = tmp_path_factory.mktemp("site")
    home = (PAGES / "mechanisms.html").read_text(encoding="utf-8")
    site = LoopbackSite({
        "/": home,
        "/about.html": (200, {"Set-Cookie": COOKIES}, ABOUT),
        "/privacy": POLICY,
        "/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nAllow: /\n"),
    })
    filters = tmp / "tinyprivacy.txt"
    filters.write_text("! Title: TinyPrivacy\n! Version: 7\n||tinytrack.test^\n", encoding="utf-8")
    rules = tmp / "tracker-rules"
    import_list("abp", filters, rules)
    targets = write_targets(tmp / "targets.yaml", {
        "id": "kids-club", "name": "Kids Club", "audience": "child-directed",
        "homepage": site.url + "/", "policy_urls": [site.url + "/privacy"],
    })
    db_path = tmp / "results.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("SCANNER_TRACKER_RULES", str(rules))
    try:
        result = run_cli("scan", targets, "--db", db_path, "--allow-private", "--max-pages", 6)
    finally:
        mp.undo()
        site.close()
    return sqlite_utils.Database(db_path), site, result


def test_every_third_party_load_mechanism_is_stored(scan):
    db, site, _ = scan
    stored = {(r["request_url"], r["via"]) for r in db["third_parties"].rows_where(
        "page_url = ?", [site.url + "/"])}
    expected = {(url, via) for url, via in MECHANISM_REQUESTS if "127.0.0.1" not in url}
    assert stored == expected


def test_stored_rows_name_entity_category_and_ids(scan):
    db, site, _ = scan
    rows = {(r["request_url"], r["via"]): r for r in db["third_parties"].rows}
    gtag = rows[("https://www.googletagmanager.com/gtag/js?id=G-TESTPAGE01", "script")]
    assert (gtag["domain"], gtag["entity"], gtag["category"], gtag["tracker_ids"]) == (
        "googletagmanager.com", "Google", "tag_manager", "G-TESTPAGE01")
    assert gtag["rule_id"] == "curated:google-tag-manager" and gtag["list_source"] == "curated"
    pixel = rows[("https://www.facebook.com/tr?id=112233445566&ev=PageView&noscript=1", "img.noscript")]
    assert (pixel["entity"], pixel["tracker_ids"]) == ("Meta", "meta-pixel:112233445566")
    onelink = rows[("https://kids.onelink.me/AbCd/promo", "a.attribution")]
    assert (onelink["entity"], onelink["category"]) == ("AppsFlyer", "attribution")
    kidoz = rows[("https://sdk.kidoz.net/api/initSDK?publisher_id=4242", "inline")]
    assert (kidoz["entity"], kidoz["tracker_ids"]) == ("Kidoz", "kidoz:4242")
    unknown = rows[("https://images.img.test/photo.jpg", "img")]
    assert unknown["domain"] == "img.test" and unknown["entity"] is None and unknown["rule_id"] is None
    beacon = rows[("https://beacon.tinytrack.test/b.gif?p=about", "img")]
    assert beacon["rule_id"] == "abp:||tinytrack.test^" and beacon["list_source"] == "abp-tinyprivacy"
    cdn = rows[("https://d1abc.cloudfront.net/player.js", "script")]
    assert cdn["category"] == "cdn"
    assert not any(r["domain"] == "127.0.0.1" for r in rows.values()), "own pages are not third parties"


def test_cookies_from_set_cookie_headers(scan):
    db, site, _ = scan
    cookies = {r["name"]: r for r in db["cookies"].rows_where("page_url = ?", [site.url + "/about.html"])}
    assert set(cookies) == {"kc_session", "_ga", "ad_uid"}
    session = cookies["kc_session"]
    assert (session["domain"], session["third_party"], session["expires"], session["samesite"],
            session["http_only"], session["secure"]) == ("127.0.0.1", 0, None, "Strict", 1, 0)
    ga = cookies["_ga"]
    assert ga["third_party"] == 0 and ga["expires"] > "2027" and ga["entity"] == "Google"
    assert ga["category"] == "analytics" and ga["rule_id"] == "curated:google-analytics"
    ad = cookies["ad_uid"]
    assert (ad["domain"], ad["third_party"], ad["secure"], ad["samesite"]) == (
        "ads.tinytrack.test", 1, 1, "None")
    assert ad["expires"] == "2031-01-01T00:00:00+00:00"


def test_tracker_and_crosscheck_findings(scan):
    db, site, _ = scan
    findings = list(db["findings"].rows_where("target_id = 'kids-club'"))
    tracker_rules = {f["rule_id"] for f in findings if f["source"] == "tracker"}
    assert {"curated:meta", "curated:google-tag-manager", "curated:tiktok", "curated:kidoz",
            "curated:superawesome", "abp:||tinytrack.test^"} <= tracker_rules
    assert not any("cloudfront" in f["evidence"] for f in findings if f["source"] == "tracker")
    cross = {}
    for f in findings:
        if f["source"] == "crosscheck":
            cross.setdefault(f["rule_id"], []).append(f)
    critical = cross["crosscheck.child-directed-ad-tracker"]
    assert all(f["severity"] == "critical" for f in critical)
    assert any("Meta" in f["evidence"] and "facebook" in f["evidence"] for f in critical)
    assert not any("Kidoz" in f["evidence"] or "SuperAwesome" in f["evidence"] for f in critical)
    denial = cross["crosscheck.denial-contradicted"]
    assert any("We do not sell your personal information." in f["evidence"] for f in denial)
    assert cross["crosscheck.child-directed-disclaimer"][0]["document_id"]
    assert cross["crosscheck.undisclosed-third-party"]


def test_a_failed_page_is_recorded_and_the_scan_goes_on(scan):
    db, site, result = scan
    missing = list(db["fetches"].rows_where("url = ?", [site.url + "/missing.html"]))
    assert missing and missing[0]["status"] == 404 and missing[0]["error"] == "HTTP 404"
    assert db["scans"].get(1)["status"] == "complete"
    assert "/about.html" in site.requests and "/privacy" in site.requests
