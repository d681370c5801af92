"""What pages do in the browser (Blacklight's seven tests), on loopback pages that do each thing
and pages that do not: one `scan --browser` of them all. 'Third-party' scripts and cookies come
from http://localhost:PORT, another site than the pages' 127.0.0.1 that the confined browser may
still reach; tracker and collector hosts are recorded and aborted, as in tests/test_browser.py."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlite_utils

from helpers import PAGES, LoopbackSite, run_cli
from scanner.browser import browser_problem
from scanner.page_behaviour import (
    BEFORE_NOTE, canary_forms, canary_in, classify, cookie_domain, cookie_name,
)
from scanner.resources import CookieRecord
from scanner.trackers import TrackerList

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_MISSING = browser_problem()
BEHAVIOUR = PAGES / "behaviour"
# target id -> page; each behaviour has a page that does it and one that does not.
PAGES_OF = {
    "canvas-yes": "canvas-yes.html", "canvas-no": "canvas-no.html",
    "audio-yes": "audio-yes.html", "audio-no": "audio-no.html",
    "session-service": "session-service.html", "session-pattern": "session-pattern.html",
    "session-webvisor": "session-webvisor.html",
    "session-no": "session-no.html",
    "keylog-yes": "keylog-yes.html", "keylog-no": "keylog-no.html",
    "meta-yes": "meta-yes.html", "meta-no": "meta-no.html",
    "ga-yes": "ga-yes.html", "ga-no": "ga-no.html",
    "cookies-yes": "cookies-yes.html", "cookies-no": "cookies-no.html",
}
JS_POLICY_TARGET = "js-policy"
SHORT_POLICY_TARGET = "short-policy"
SHORT_POLICY = ("<html><body><h1>Privacy</h1><p>We collect no personal information from children."
                "</p></body></html>")


def behaviour_site() -> LoopbackSite:
    site = LoopbackSite({})
    port = str(site.port)

    def page(name, content_type="text/html; charset=utf-8", **headers):
        body = (BEHAVIOUR / name).read_text(encoding="utf-8").replace("{{PORT}}", port)
        return (200, {"Content-Type": content_type, **headers}, body)

    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    site.pages.update({f"/{target}": page(name) for target, name in PAGES_OF.items()})
    site.pages.update({f"/{name}": page(name, "application/javascript")
                       for name in os.listdir(BEHAVIOUR) if name.endswith(".js")})
    site.pages.update({
        "/privacy": page("policy-static.html"),
        "/privacy-app": page("policy-js.html"),
        "/star-readers": "<html><body><h1>Star Readers</h1><p>Stories for kids.</p></body></html>",
        "/short-privacy": SHORT_POLICY,
        # Chromium refuses unpartitioned third-party cookies; a partitioned (CHIPS) one it keeps.
        "/sync.gif": (200, {"Content-Type": "image/gif",
                            "Set-Cookie": "uid=u-42; Path=/; Max-Age=86400; SameSite=None; Secure"}, gif),
        "/chips.gif": (200, {"Content-Type": "image/gif", "Set-Cookie":
                             "chip=c-7; Path=/; Max-Age=86400; SameSite=None; Secure; Partitioned"}, gif),
        "/logo.gif": (200, {"Content-Type": "image/gif",
                            "Set-Cookie": "theme=dark; Path=/; SameSite=Lax"}, gif),
    })
    return site


def write_targets(path: Path, site: LoopbackSite) -> None:
    lines = ["targets:"]
    targets = {t: (f"/{t}", "/privacy") for t in PAGES_OF}
    targets[JS_POLICY_TARGET] = ("/star-readers", "/privacy-app")
    targets[SHORT_POLICY_TARGET] = ("/star-readers", "/short-privacy")
    for target_id, (home, policy) in targets.items():
        lines += [f"  - id: {target_id}", f"    name: {target_id}", "    audience: child-directed",
                  f"    homepage: {site.url}{home}", f"    policy_urls: [{site.url}{policy}]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """One `scan --browser --allow-private` of every behaviour page (one Chromium launch)."""
    if CHROMIUM_MISSING and not ON_CI:
        pytest.skip(CHROMIUM_MISSING)
    site = behaviour_site()
    tmp = tmp_path_factory.mktemp("behaviour")
    targets = tmp / "targets.yaml"
    write_targets(targets, site)
    db_path = tmp / "results.db"
    try:
        result = run_cli("scan", targets, "--db", db_path, "--allow-private", "--browser",
                         "--max-pages", "1", timeout=180)
        yield SimpleNamespace(db=sqlite_utils.Database(db_path), db_path=db_path, site=site,
                              log=result.stderr)
    finally:
        site.close()


def findings(scan, target_id: str, practice: str) -> list[str]:
    return [r["evidence"] for r in scan.db["findings"].rows_where(
        "target_id = ? AND source = 'browser' AND practice = ?", [target_id, practice])]


def browser_practices(scan, target_id: str) -> set[str]:
    return {r["practice"] for r in scan.db["findings"].rows_where(
        "target_id = ? AND source = 'browser'", [target_id])}


crawl = pytest.mark.crawl


@crawl
def test_canvas_fingerprinting_names_the_script_and_the_call(scan):
    evidence = findings(scan, "canvas-yes", "browser.canvas-fingerprinting")
    script = f"http://localhost:{scan.site.port}/fingerprint.js"
    assert any(e.startswith(f"{script} called toDataURL: 240x60 canvas with text \"Cwm fjordbank")
               for e in evidence), evidence
    assert any(f"{script} called measureText: text measured in more than 50 fonts" in e
               for e in evidence), evidence
    assert all(e.endswith(BEFORE_NOTE) for e in evidence)
    row = next(scan.db["findings"].rows_where("practice = 'browser.canvas-fingerprinting'"))
    assert (row["category"], row["severity"], row["polarity"]) == ("tracking", "high", "risk")
    # a labelled chart, a plain thumbnail read back, a JPEG export, two fonts measured, a game
    # reading its own pixels, a short label read back
    assert "browser.canvas-fingerprinting" not in browser_practices(scan, "canvas-no")


@crawl
def test_audio_and_webgl_fingerprinting_and_when_they_happened(scan):
    webgl = findings(scan, "audio-yes", "browser.webgl-fingerprinting")
    audio = findings(scan, "audio-yes", "browser.audio-fingerprinting")
    assert len(webgl) == 1 and "UNMASKED_RENDERER_WEBGL" in webgl[0] and webgl[0].endswith(BEFORE_NOTE)
    # The audio fingerprint waited for the first key: it is not marked as before interaction.
    assert len(audio) == 1 and "OfflineAudioContext.startRendering" in audio[0]
    assert BEFORE_NOTE not in audio[0] and "audio-webgl.js" in audio[0]
    assert not browser_practices(scan, "audio-no") & {"browser.audio-fingerprinting",
                                                      "browser.webgl-fingerprinting"}


@crawl
def test_session_recording_by_known_service_and_by_behaviour(scan):
    service = findings(scan, "session-service", "browser.session-recording")
    assert service == ["https://static.hotjar.com/c/hotjar-123.js?sv=6 loaded (Hotjar, session "
                       "recording)" + BEFORE_NOTE]
    pattern = findings(scan, "session-pattern", "browser.session-recording")
    assert len(pattern) == 1 and pattern[0].startswith(
        f"http://localhost:{scan.site.port}/recorder.js observes every change to the page")
    assert "mousemove" in pattern[0] and "keydown" in pattern[0]
    webvisor = findings(scan, "session-webvisor", "browser.session-recording")
    assert webvisor == ["Yandex Metrica counter 55555 initialised with webvisor: true (session "
                        "recording)" + BEFORE_NOTE]
    # The other page watches one element and counts visits with Metrica, Webvisor off.
    assert "browser.session-recording" not in browser_practices(scan, "session-no")
    assert scan.db["third_parties"].count_where(
        "target_id = 'session-no' AND host = 'mc.yandex.ru'") >= 1


@crawl
def test_key_logging_catches_typed_text_sent_before_submission(scan):
    evidence = findings(scan, "keylog-yes", "browser.key-logging")
    assert len(evidence) == 1, evidence
    assert evidence[0].startswith("typed into email[email] without submitting; the text was sent "
                                  "in the body of POST https://collect.leadform.example/capture")
    assert f"by http://localhost:{scan.site.port}/keylogger.js (sendBeacon)" in evidence[0]
    assert BEFORE_NOTE not in evidence[0]
    # The other page also sends a request on every key, but only a character count to another
    # site, and the typed text to its own server (search suggestions).
    assert "browser.key-logging" not in browser_practices(scan, "keylog-no")
    counts = [r["request_url"] for r in scan.db["third_parties"].rows_where("target_id = 'keylog-no'")]
    assert any("stats.example/typing?chars=" in u for u in counts), counts
    assert any(p.startswith("/suggest?q=kc") for p in scan.site.requests), scan.site.requests


@crawl
def test_meta_pixel_events(scan):
    evidence = sorted(findings(scan, "meta-yes", "browser.meta-pixel-event"))
    assert [e.split(" sent")[0] for e in evidence] == [
        "Meta pixel 987654321 event AddToCart", "Meta pixel 987654321 event PageView",
        "Meta pixel 987654321 event ViewContent"]
    assert evidence[0].endswith(": https://www.facebook.com/tr/" + BEFORE_NOTE)  # posted
    assert all(f"by http://localhost:{scan.site.port}/pixel.js" in e and e.endswith(BEFORE_NOTE)
               for e in evidence)
    row = next(scan.db["findings"].rows_where("practice = 'browser.meta-pixel-event'"))
    assert row["category"] == "behavioral_ads"
    assert "browser.meta-pixel-event" not in browser_practices(scan, "meta-no")


@crawl
def test_google_analytics_remarketing(scan):
    evidence = findings(scan, "ga-yes", "browser.ga-remarketing")
    assert any(e.startswith("Google Analytics advertising features (remarketing audiences) by "
                            f"http://localhost:{scan.site.port}/analytics.js: "
                            "https://stats.g.doubleclick.net/g/collect") for e in evidence), evidence
    assert any("config G-KIDS123 allow_google_signals=true" in e for e in evidence), evidence
    # Plain analytics with ad personalisation off, signals off: not remarketing.
    assert "browser.ga-remarketing" not in browser_practices(scan, "ga-no")


@crawl
def test_third_party_cookies_kept_and_refused(scan):
    evidence = sorted(findings(scan, "cookies-yes", "browser.third-party-cookie"))
    assert len(evidence) == 2, evidence
    kept, refused = evidence
    assert kept.startswith("cookie chip for localhost kept by the browser") and kept.endswith(BEFORE_NOTE)
    assert refused.startswith(f"cookie uid for localhost set by http://localhost:{scan.site.port}"
                              "/sync.gif (refused by this browser)")
    stored = {r["name"]: r for r in scan.db["cookies"].rows_where("target_id = 'cookies-yes'")}
    assert stored["chip"]["third_party"] == 1
    # First-party cookies (a header and document.cookie) are not third-party cookies.
    assert "browser.third-party-cookie" not in browser_practices(scan, "cookies-no")
    assert {r["name"] for r in scan.db["cookies"].rows_where("target_id = 'cookies-no'")} >= {"volume", "theme"}


@crawl
def test_homepage_screenshot_and_har_are_stored_by_their_hash(scan):
    rows = list(scan.db["browser_artifacts"].rows_where("target_id = 'canvas-yes'"))
    kinds = sorted(r["kind"] for r in rows)
    assert kinds == ["har", "screenshot"], rows
    for row in rows:
        path = scan.db_path.parent / row["path"]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"] and len(data) == row["bytes"]
        folder = {"har": "har", "screenshot": "screenshots"}[row["kind"]]
        assert path.parent == Path(f"{scan.db_path}.evidence") / folder
        assert path.name.startswith(row["sha256"])
    shot = next(r for r in rows if r["kind"] == "screenshot")
    assert (scan.db_path.parent / shot["path"]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    har = json.loads((scan.db_path.parent / next(r for r in rows if r["kind"] == "har")["path"])
                     .read_text(encoding="utf-8"))
    urls = [e["request"]["url"] for e in har["log"]["entries"]]
    assert any(u.endswith("/fingerprint.js") for u in urls), urls
    # every target visited in the browser has its own HAR, and no partial file is left behind
    assert scan.db["browser_artifacts"].count_where("kind = 'har'") == len(PAGES_OF) + 2
    assert not [p for p in (Path(f"{scan.db_path}.evidence") / "har").iterdir() if p.name.endswith(".part")]


@crawl
def test_policy_built_by_javascript_is_read_from_the_rendered_page(scan):
    fetches = list(scan.db.query(
        "SELECT f.read_with, f.document_id, d.text, d.read_with AS doc_read_with FROM fetches f "
        "LEFT JOIN documents d ON d.id = f.document_id "
        "WHERE f.target_id = ? AND f.kind = 'policy' ORDER BY f.id", [JS_POLICY_TARGET]))
    assert [f["read_with"] for f in fetches] == ["static", "browser"], fetches
    static, rendered = fetches
    assert static["document_id"] is None
    assert "share this information with advertising partners" in rendered["text"]
    assert rendered["doc_read_with"] == "browser"
    assert scan.db["findings"].count_where(
        "target_id = ? AND source = 'policy' AND document_id = ?",
        [JS_POLICY_TARGET, rendered["document_id"]]) > 0
    # The static policy of the other targets is read as before, and no browser read is made.
    assert {r["read_with"] for r in scan.db.query(
        "SELECT read_with FROM fetches WHERE kind = 'policy' AND target_id = 'canvas-yes'")} == {"static"}
    shots = list(scan.db["browser_artifacts"].rows_where(
        "target_id = ? AND kind = 'screenshot' AND page_url LIKE '%/privacy-app'", [JS_POLICY_TARGET]))
    assert len(shots) == 1


# ---- classification without a browser -------------------------------------------------------

@pytest.fixture(scope="module")
def trackers():
    return TrackerList.load()


def test_canary_is_found_plain_encoded_and_hashed():
    canary = "kc0123456789ab"
    assert canary_in(canary, f"https://x.example/k?v={canary}%40example.com", None) == "url"
    email_sha = hashlib.sha256(f"{canary}@example.com".encode()).hexdigest()
    assert canary_in(canary, "https://x.example/k", json.dumps({"h": email_sha}).encode()) == "body"
    assert canary_in(canary, "https://x.example/k?chars=14", b"len=14") is None
    assert len(set(canary_forms(canary))) == 9


def test_set_cookie_name_and_domain():
    assert cookie_name("uid=1; Path=/; Domain=.ads.example") == "uid"
    assert cookie_domain("uid=1; Path=/; Domain=.ads.example", "px.ads.example") == "ads.example"
    assert cookie_domain("uid=1; Path=/", "px.ads.example") == "px.ads.example"


def test_classify_without_records_finds_nothing(trackers):
    assert classify({}, [], "https://kids.example/", trackers) == []


def test_classify_a_first_party_cookie_and_plain_analytics_are_not_behaviours(trackers):
    cookie = SimpleNamespace(**vars(CookieRecord(name="sid", domain="kids.example", expires=None,
                                                  secure=True, samesite="Lax", http_only=True)),
                             via="browser")
    observed = {"requests": {"https://www.google-analytics.com/g/collect?v=2&npa=1": "load",
                             "https://www.facebook.com/tr?id=1": "load"}}
    assert classify(observed, [cookie], "https://kids.example/", trackers) == []


def test_classify_session_recorder_pattern_needs_all_three_hooks(trackers):
    script = "https://cdn.kids.example/rec.js"
    records = [{"kind": k, "api": api, "script": script, "detail": "document", "phase": "load"}
               for k, api in (("dom-observer", "MutationObserver.observe"),
                              ("typing-listener", "keydown"))]
    assert classify({"records": records}, [], "https://kids.example/", trackers) == []
    records.append({"kind": "pointer-listener", "api": "mousemove", "script": script,
                    "detail": "document", "phase": "interaction"})
    found = classify({"records": records}, [], "https://kids.example/", trackers)
    assert [b.practice for b in found] == ["browser.session-recording"]
    assert not found[0].before_interaction   # one of its hooks came only after typing began


@crawl
def test_a_short_policy_the_browser_adds_nothing_to_stays_read_statically(scan):
    fetches = list(scan.db.query(
        "SELECT f.read_with, f.document_id, d.read_with AS doc_read_with, d.text FROM fetches f "
        "LEFT JOIN documents d ON d.id = f.document_id "
        "WHERE f.target_id = ? AND f.kind = 'policy' ORDER BY f.id", [SHORT_POLICY_TARGET]))
    # The browser was asked (the text is under 200 characters) and found nothing more.
    assert [(f["read_with"], f["document_id"] is not None) for f in fetches] == [
        ("browser", False), ("static", True)], fetches
    assert fetches[1]["doc_read_with"] == "static"
    assert "We collect no personal information from children." in fetches[1]["text"]


# ---- the store: which way a text was read, and when a scan is a browser scan ----------------

def test_migration_marks_older_texts_as_read_statically(tmp_path):
    from scanner import store

    path = tmp_path / "old.db"
    # A database as an earlier version made it: migrated up to m007.
    db = store.sqlite_utils.Database(path)
    store.migrations.apply(db, stop_before="m007_browser_artifacts")
    db["scans"].insert_all([{"id": 1, "options": json.dumps({"browser": False})},
                            {"id": 2, "options": json.dumps({"browser": True}, sort_keys=True)}])
    db["documents"].insert({"id": 1, "sha256": "x", "text": "policy"})
    db["fetches"].insert_all([
        {"scan_id": scan, "target_id": "t", "kind": kind, "url": f"http://t.example/{scan}/{kind}"}
        for scan in (1, 2) for kind in ("page", "policy")])
    db.conn.commit()
    db.close()
    db = store.open_db(path)
    read = {(r["scan_id"], r["kind"]): r["read_with"] for r in db["fetches"].rows}
    # A page row of an older browser scan may come from either spider: unknown.
    assert read == {(1, "page"): "static", (1, "policy"): "static",
                    (2, "page"): None, (2, "policy"): "static"}
    assert db["documents"].get(1)["read_with"] == "static"
    assert db["browser_artifacts"].count == 0


def test_a_scan_is_a_browser_scan_by_setting_or_by_its_recorded_options(tmp_path):
    from scrapy.settings import Settings

    from scanner import store
    from scanner.browser import scan_uses_browser

    path = tmp_path / "r.db"
    db = store.open_db(path)
    plain = store.start_scan(db, rules_version="r", targets_file="t.yaml", options={"browser": False})
    browser = store.start_scan(db, rules_version="r", targets_file="t.yaml", options={"browser": True})
    db.close()

    def uses(**values):
        return scan_uses_browser(Settings({"SCANNER_DB": str(path), **values}))

    assert uses(SCANNER_SCAN_ID=browser) is True
    assert uses(SCANNER_SCAN_ID=plain) is False
    assert uses(SCANNER_SCAN_ID=browser, SCANNER_BROWSER=False) is False   # the setting wins
    assert uses(SCANNER_SCAN_ID=plain, SCANNER_BROWSER=True) is True
    assert scan_uses_browser(Settings({"SCANNER_DB": str(tmp_path / "none.db"),
                                       "SCANNER_SCAN_ID": browser})) is False
