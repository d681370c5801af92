"""`scanner report` in every format on the demo scan: content, escaping, self-containment."""

import csv
import io
import json
import re
import shutil

import pytest
import sqlite_utils
from click.testing import CliRunner
from markupsafe import escape

from helpers import ROOT
from reports import CSV_COLUMNS, render_report
from reports.escape import md_text
from scanner import store
from scanner.cli import cli


def esc(text) -> str:
    return str(escape(text))


def report(db_path, *args) -> str:
    result = CliRunner().invoke(cli, ["report", "--db", str(db_path), *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def rendered(demo_scan_db):
    return {fmt: report(demo_scan_db, "--format", fmt) for fmt in ("html", "md", "csv", "json")}


def read_csv(text: str) -> list[dict]:
    """The report's rows; its byte-order mark (for spreadsheet programs) must come first."""
    assert text.startswith("\ufeff") and not text.startswith("\ufeff\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def target_section(page: str, target_id: str) -> str:
    start = page.index(f'<section class="target" id="target-{target_id}">')
    return page[start:page.index("</section>", start)]


def policy_evidence(db_path, target_id, category):
    db = sqlite_utils.Database(db_path)
    return [r[0] for r in db.execute(
        "SELECT evidence FROM findings WHERE target_id = ? AND category = ? AND polarity = 'risk' "
        "AND source = 'policy'", [target_id, category]).fetchall()]


def test_html_shows_unreachable_target_as_unreachable_and_ungraded(rendered):
    section = target_section(rendered["html"], "lost-lagoon")
    assert 'data-status="unreachable"' in section
    assert "Not graded" in section and "not a clean result" in section
    assert 'class="grade ' not in section
    assert "refused" in section.lower()
    graded = target_section(rendered["html"], "happy-hippo")
    assert 'data-status="scored"' in graded and 'class="grade grade-' in graded


def test_html_explains_every_score_contribution(rendered, demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    for row in db["scores"].rows_where("status != 'unreachable'"):
        section = target_section(rendered["html"], row["target_id"])
        explanation = json.loads(row["explanation"])
        for c in explanation["contributions"]:
            assert f"<td class=\"num\">+{c['points']}</td><td><code class=\"rule\">{esc(c['rule_id'])}</code>" in section
            assert esc(c["evidence"]) in section
        total = sum(c["points"] for c in explanation["contributions"])
        assert f'<th class="num">{total}</th>' in section, row["target_id"]


def test_html_quotes_policy_sentences_and_tracker_requests(rendered, demo_scan_db):
    section = target_section(rendered["html"], "pixel-pals")
    sale = policy_evidence(demo_scan_db, "pixel-pals", "sale")
    assert sale
    for sentence in sale:
        assert f"<blockquote>{esc(sentence)}</blockquote>" in section
    assert "#:~:text=" in section  # the link scrolls to the quoted sentence
    tiny = target_section(rendered["html"], "tiny-tunes-tv")
    assert "<code>googletagmanager.com</code>" in tiny
    policies = target_section(rendered["html"], "star-scribes")
    assert "privacy-policy.pdf" in policies and "sha256" in policies.lower()


def test_html_has_svg_charts_and_loads_nothing_from_outside(rendered):
    page = rendered["html"]
    assert page.count("<svg") >= 4
    for title in ("Targets per grade", "Risk score per target", "Third-party domains by category",
                  "Findings by category"):
        assert f"<title>{title}" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for tag in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "<audio", "<video"):
        assert tag not in page.lower(), tag
    styles = " ".join(a + b for a, b in
                      re.findall(r"<style>(.*?)</style>|style=\"([^\"]*)\"", page, flags=re.S))
    assert "grade-A" in styles
    # The one url() is the embedded Thai font, a data: URL; nothing is imported.
    assert re.findall(r"url\(([a-z]+):", styles) == ["data"] and "@import" not in styles
    assert styles.count("@font-face") == 1
    assert not re.search(r"\ssrc\s*=", page)
    # The only http(s) URLs are the targets' own links and the evidence shown as text.
    assert not re.search(r"(?:xmlns|xlink:href|srcset)\s*=\s*[\"']?https?:", page)


def test_markdown_has_the_same_content_and_stable_tables(rendered, demo_scan_db):
    md = rendered["md"]
    lost = md[md.index("(`lost-lagoon`)\n"):]
    assert "**UNREACHABLE**, not graded" in lost.split("\n## ")[0]
    for sentence in policy_evidence(demo_scan_db, "pixel-pals", "sale"):
        assert sentence.replace("_", r"\_") in md
    assert "googletagmanager.com" in md
    for block in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(widths) == 1, block


def test_csv_has_documented_columns_and_one_row_per_finding(rendered, demo_scan_db):
    rows = read_csv(rendered["csv"])
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    db = sqlite_utils.Database(demo_scan_db)
    scan_id = max(r["id"] for r in db["scans"].rows)
    assert sum(1 for r in rows if r["rule_id"]) == db["findings"].count_where("scan_id = ?", [scan_id])
    targets = {r["target_id"] for r in rows}
    assert targets == {r["target_id"] for r in db["scores"].rows_where("scan_id = ?", [scan_id])}
    (lost,) = [r for r in rows if r["target_id"] == "lost-lagoon"]
    assert lost["status"] == "unreachable" and lost["grade"] == "" and lost["rule_id"] == ""
    assert any(r["target_id"] == "pixel-pals" and r["category"] == "sale" and r["polarity"] == "risk"
               for r in rows)


def test_json_round_trips_with_documented_keys(rendered, demo_scan_db):
    data = json.loads(rendered["json"])
    assert json.loads(json.dumps(data)) == data
    assert data["report_format"] == 1
    assert {"scan", "summary", "targets"} <= set(data)
    by_id = {t["id"]: t for t in data["targets"]}
    assert by_id["lost-lagoon"]["status"] == "unreachable"
    assert by_id["lost-lagoon"]["grade"] is None and by_id["lost-lagoon"]["score"] is None
    assert "googletagmanager.com" in {p["domain"] for p in by_id["tiny-tunes-tv"]["third_parties"]}
    assert any(f["category"] == "sale" and f["polarity"] == "risk"
               for f in by_id["pixel-pals"]["findings"])
    for t in data["targets"]:
        contributions = t["explanation"].get("contributions", [])
        assert t["points_total"] == sum(c["points"] for c in contributions)
        if t["score"] is not None:
            assert t["score"] == min(100, t["points_total"])
    assert data["summary"]["statuses"]["unreachable"] >= 1
    assert sum(data["summary"]["grades"].values()) == sum(1 for t in data["targets"] if t["grade"])
    docs = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    for key in list(data) + list(data["targets"][0]) + list(data["summary"]):
        assert f"`{key}`" in docs, f"JSON key {key!r} is not documented in docs/reports.md"


def test_every_csv_column_is_documented():
    docs = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    missing = [c for c in CSV_COLUMNS if f"| `{c}` |" not in docs]
    assert not missing, f"CSV columns missing from docs/reports.md: {missing}"


def test_report_for_one_target(demo_scan_db):
    data = json.loads(report(demo_scan_db, "--format", "json", "--target", "pixel-pals"))
    assert [t["id"] for t in data["targets"]] == ["pixel-pals"]
    assert data["target_filter"] == "pixel-pals"
    page = report(demo_scan_db, "--format", "html", "--target", "pixel-pals")
    assert 'id="target-pixel-pals"' in page and 'id="target-tiny-tunes-tv"' not in page
    result = CliRunner().invoke(cli, ["report", "--db", str(demo_scan_db), "--target", "nobody"])
    assert result.exit_code == 2
    assert "nobody" in result.output and result.output.strip().count("\n") == 0


def test_untrusted_text_is_escaped_in_html_and_markdown(demo_scan_db, tmp_path):
    db_path = tmp_path / "hostile.db"
    shutil.copy(demo_scan_db, db_path)
    db = store.open_db(db_path)
    hostile = 'We <script>alert("x")</script> sell | your [data](javascript:alert(1)) data.'
    finding_id = db.execute("SELECT id FROM findings WHERE target_id = 'pixel-pals' AND "
                            "source = 'policy' LIMIT 1").fetchone()[0]
    # A policy finding is a document's finding seen through a fetch: both are made hostile.
    fetch_id, n = store.policy_finding_fetch(finding_id)
    db.execute("""UPDATE document_findings SET evidence = ? WHERE n = ? AND
                  (document_id, findings_version) =
                  (SELECT document_id, findings_version FROM fetches WHERE id = ?)""",
               [hostile, n, fetch_id])
    db["fetch_rows"].update(fetch_id, {"final_url": "javascript:alert(2)"})
    db.conn.commit()
    db["targets"].update("pixel-pals", {"name": "Pixel <b>Pals</b> | x"})
    scan_id = store.latest_scan_id(db)

    page = render_report(db, scan_id, "html")
    assert "<script>" not in page and "<b>Pals</b>" not in page
    assert esc(hostile) in page
    assert 'href="javascript:' not in page

    md = render_report(db, scan_id, "md")
    assert "<script>" not in md and "<b>" not in md
    assert r"sell \| your \[data\](javascript:alert(1)) data." in md.replace("&lt;", "<")
    table_line = next(line for line in md.splitlines() if "alert(1)" in line and line.startswith("|"))
    header = next(line for line in md.splitlines() if line.startswith("| severity | polarity"))
    assert len(re.findall(r"(?<!\\)\|", table_line)) == len(re.findall(r"(?<!\\)\|", header))


# --- the app section


@pytest.fixture
def app_db(tmp_path):
    from appdb import ADMOB, CRASHLYTICS, app_scan, finish, listing_with

    db = store.open_db(tmp_path / "apps.db")
    listing = listing_with(contains_ads=False, target_ages=["Ages 6-8"], designed_for_families=True,
                           privacy_policy_url="https://kids.example/privacy",
                           data_safety={"no_data_shared": True, "data_collected": [
                               {"category": "Location", "data_type": "Approximate location",
                                "purposes": ["Analytics"], "optional": False}]})
    scan_id, kids = app_scan(db, policy="We do not show ads.", sdks=[ADMOB, CRASHLYTICS],
                             permissions=["android.permission.INTERNET",
                                          "com.google.android.gms.permission.AD_ID",
                                          "android.permission.CAMERA"], listing=listing)
    _, web = app_scan(db, target_id="web-only", name="Web Only", policy="We collect your email.",
                      scan_id=scan_id)
    finish(db, scan_id, [kids, web])
    return db, scan_id


def test_app_section_in_json(app_db):
    db, scan_id = app_db
    data = json.loads(render_report(db, scan_id, "json"))
    by_id = {t["id"]: t for t in data["targets"]}
    assert by_id["web-only"]["app"] is None
    app = by_id["kids"]["app"]
    (apk,) = app["apks"]
    assert (app["package"], apk["version_name"]) == ("com.kids.club", "2.1.0")
    assert apk["sha256"] == db["apps"].get(apk["sha256"])["sha256"]
    admob = app["sdks"][0]
    assert (admob["entity"], admob["category"], admob["evidence"]) == (
        "Google", "advertising", "com.google.android.gms.ads.AdView")
    assert app["sensitive_permissions"] == ["android.permission.CAMERA",
                                            "com.google.android.gms.permission.AD_ID"]
    assert {"permission": "android.permission.INTERNET", "sensitive": False} in [
        {k: p[k] for k in ("permission", "sensitive")} for p in app["permissions"]]
    store_page = app["store"]
    assert (store_page["contains_ads"], store_page["no_data_shared"],
            store_page["designed_for_families"]) == (0, 1, 1)
    assert store_page["target_ages"] == ["Ages 6-8"]
    assert store_page["data_collected"][0]["data_type"] == "Approximate location"
    rules = {f["rule_id"] for f in app["crosschecks"]}
    assert {"crosscheck.store-no-ads-contradicted", "crosscheck.store-no-data-shared-contradicted",
            "crosscheck.child-app-advertising-id", "crosscheck.sdk-denial-contradicted"} <= rules
    assert all(f["source"] == "crosscheck" for f in app["crosschecks"])
    assert data["summary"]["apps"] == 1 and data["summary"]["apps_with_ad_sdks"] == 1
    docs = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    for key in list(app) + list(store_page):
        assert f"`{key}`" in docs, f"app JSON key {key!r} is not documented in docs/reports.md"


def test_app_section_in_html_and_markdown_only_for_targets_with_an_app(app_db):
    db, scan_id = app_db
    page = render_report(db, scan_id, "html")
    kids = target_section(page, "kids")
    assert 'id="app-kids"' in kids and "com.google.android.gms.ads.AdView" in kids
    sha = db["apps"].rows.__next__()["sha256"]
    assert sha in kids and "android.permission.CAMERA" in kids
    assert "<th>contains ads</th><td>no</td>" in kids
    assert "Approximate location (Analytics)" in kids
    assert "crosscheck.child-app-advertising-id" in kids
    assert "app-web-only" not in page and "SDKs in the app" not in target_section(page, "web-only")
    md = render_report(db, scan_id, "md")
    kids_md = md[md.index("(`kids`)\n"):md.index("(`web-only`)\n")] if md.index("(`kids`)\n") < \
        md.index("(`web-only`)\n") else md[md.index("(`kids`)\n"):]
    assert "### App: `com.kids.club`" in kids_md
    assert "`com.google.android.gms.ads.AdView`" in kids_md and sha in kids_md
    assert '| "no data shared with third parties" | yes |' in kids_md
    assert "crosscheck.store-no-ads-contradicted" in kids_md
    assert md.count("#### SDKs in the app") == 1
    for block in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(widths) == 1, block


def test_csv_rows_carry_the_app(app_db):
    db, scan_id = app_db
    rows = read_csv(render_report(db, scan_id, "csv"))
    assert tuple(rows[0]) == CSV_COLUMNS
    kids = [r for r in rows if r["target_id"] == "kids"]
    sha = next(db["apps"].rows)["sha256"]
    assert kids and all((r["app_package"], r["app_version_name"], r["apk_sha256"]) ==
                        ("com.kids.club", "2.1.0", sha) for r in kids)
    assert any(r["source"] == "app" and "AdView" in r["evidence"] for r in kids)
    assert all(r["apk_sha256"] == "" for r in rows if r["target_id"] == "web-only")


def test_store_page_text_is_escaped_in_the_app_section(tmp_path):
    from appdb import ADMOB, app_scan, finish, listing_with

    db = store.open_db(tmp_path / "hostile-app.db")
    listing = listing_with(privacy_policy_url="javascript:alert(1)", content_rating="<b>E</b> | x",
                           target_ages=["Ages <script>6</script>"],
                           data_safety={"data_shared": [{"data_type": "<img src=x onerror=y>",
                                                         "purposes": ["ads | [x](javascript:z)"]}]})
    scan_id, kids = app_scan(db, sdks=[ADMOB], listing=listing)
    finish(db, scan_id, [kids])
    page = render_report(db, scan_id, "html")
    assert "<script>6" not in page and "<img src=x" not in page and "<b>E</b>" not in page
    assert 'href="javascript:' not in page and esc("<img src=x onerror=y>") in page
    md = render_report(db, scan_id, "md")
    assert "<script>" not in md and "<img" not in md
    row = next(line for line in md.splitlines() if line.startswith("| data shared |"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 3


# ---- verdict ----------------------------------------------------------------------------------

def test_each_target_opens_with_a_plain_language_verdict(rendered, demo_scan_db):
    data = json.loads(rendered["json"])
    by_id = {t["id"]: t for t in data["targets"]}
    for target in data["targets"]:
        verdict = target["verdict"]
        section = target_section(rendered["html"], target["id"])
        # At the top: before the status box and the score table.
        assert section.index('class="verdict') < section.index('data-status="')
        assert esc(verdict["text"]) in section
        assert f"**Verdict:** {md_text(verdict['text'])}" in rendered["md"]
        if target["grade"]:
            assert f"grade {target['grade']}, score {target['score']} of 100" in verdict["text"]
            risks = sorted((c for c in target["explanation"]["contributions"] if c["points"] > 0),
                           key=lambda c: -c["points"])[:3]
            assert [c["rule_id"] for c in verdict["concerns"]] == [c["rule_id"] for c in risks]
    assert by_id["lost-lagoon"]["verdict"]["level"] == "Not graded"
    assert "not a clean result" in by_id["lost-lagoon"]["verdict"]["text"]
    tiny = by_id["tiny-tunes-tv"]["verdict"]
    assert tiny["level"] == "Very high risk" if by_id["tiny-tunes-tv"]["grade"] == "F" else True
    contradicted = [f for f in by_id["tiny-tunes-tv"]["findings"]
                    if f["rule_id"] == "crosscheck.denial-contradicted"]
    assert contradicted and len(tiny["contradictions"]) >= len(contradicted)
    assert "contradicts what it says" in tiny["text"]


# ---- Thai text: the embedded font -------------------------------------------------------------

THAI = re.compile(r"[\u0e01-\u0e5b]")


def test_html_embeds_a_thai_font_that_covers_every_thai_character_it_shows(rendered):
    from reports import THAI_FONT_FILE

    page = rendered["html"]
    face = re.search(r'@font-face \{ font-family: "Report Thai";.*?src: url\(data:font/woff2;'
                     r'base64,([A-Za-z0-9+/=]+)\) format\("woff2"\); unicode-range: ([^;]+);', page)
    assert face, "no embedded Thai @font-face"
    embedded = __import__("base64").b64decode(face.group(1))
    assert embedded == THAI_FONT_FILE.read_bytes() and embedded[:4] == b"wOF2"
    assert 'font-family: "Report Thai",' in page and "font-src data:" in page
    used = set(THAI.findall(page))
    assert len(used) > 20, "the demo report should show Thai text"
    fontTools = pytest.importorskip("fontTools.ttLib", reason="make thai-font installs fontTools")
    pytest.importorskip("brotli")
    cmap = fontTools.TTFont(io.BytesIO(embedded)).getBestCmap()
    assert not [c for c in used if ord(c) not in cmap]
    licence = (THAI_FONT_FILE.parent / "LICENSE").read_text(encoding="utf-8")
    assert "Font exception" in licence and "Loma" in licence
    assert "LICENSE" in (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (make browser)")
def test_chromium_draws_the_thai_text_with_the_embedded_font(rendered):
    """Headless Chromium, asked which fonts drew a Thai policy sentence: the embedded one."""
    from playwright.sync_api import sync_playwright

    from scanner.browser import launch_options

    page_html = rendered["html"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options(allow_private=False))
        try:
            page = browser.new_page()
            page.set_content(page_html, wait_until="load")
            page.evaluate("document.fonts.ready")
            faces = page.evaluate("""[...document.fonts].map(f => [f.family, f.status])""")
            assert ['"Report Thai"', "loaded"] in faces or ["Report Thai", "loaded"] in faces
            cdp = page.context.new_cdp_session(page)
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            root = cdp.send("DOM.getDocument")["root"]["nodeId"]
            node = cdp.send("DOM.querySelector", {
                "nodeId": root, "selector": "#target-dek-dee-thai table.findings blockquote"})
            text = page.inner_text("#target-dek-dee-thai table.findings blockquote")
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
        finally:
            browser.close()
    thai_chars = len(THAI.findall(text))
    assert thai_chars > 10
    custom = [f for f in fonts if f["isCustomFont"]]
    assert custom and custom[0]["familyName"] == "Loma", fonts
    # Every Thai character was drawn by the embedded font (marks may share a glyph cluster).
    assert custom[0]["glyphCount"] >= thai_chars * 0.9, (fonts, thai_chars)
    assert not [f for f in fonts if not f["isCustomFont"] and "Loma" in f["familyName"]]
