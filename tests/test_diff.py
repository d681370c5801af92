"""`scanner diff`: two scans of loopback sites, one of which changes its policy and trackers."""

import json
import re

import pytest
import sqlite_utils
import yaml

from helpers import LoopbackSite, run_cli
from scanner.diff import finding_key
from scanner.serve import build_metadata

HOME_V1 = """<html><head><title>Kiddo Maths</title>
<script src="https://www.googletagmanager.com/gtag/js?id=G-KIDDO1"></script></head>
<body><h1>Kiddo Maths</h1><a href="/privacy.html">Privacy Policy</a></body></html>"""
HOME_V2 = """<html><head><title>Kiddo Maths</title>
<script src="https://connect.facebook.net/en_US/fbevents.js"></script></head>
<body><h1>Kiddo Maths</h1><a href="/privacy.html">Privacy Policy</a></body></html>"""
POLICY_V1 = """<html><head><title>Kiddo Maths Privacy Policy</title></head><body><main>
<h1>Privacy Policy</h1>
<p>Kiddo Maths is a maths game for children aged 6 to 10.</p>
<p>We do not sell your personal information.</p>
<p>We collect the email address of a parent to create a family account.</p>
</main></body></html>"""
POLICY_V2 = """<html><head><title>Kiddo Maths Privacy Policy</title></head><body><main>
<h1>Privacy Policy</h1>
<p>Kiddo Maths is a maths game for children aged 6 to 10.</p>
<p>We may sell your personal information to data brokers and marketing partners.</p>
<p>We collect the email address of a parent to create a family account.</p>
</main></body></html>"""
STEADY_HOME = """<html><head><title>Steady Spelling</title></head>
<body><h1>Steady Spelling</h1><a href="/privacy.html">Privacy</a></body></html>"""
STEADY_POLICY = """<html><head><title>Steady Spelling Privacy</title></head><body><main>
<h1>Privacy Policy</h1><p>We do not sell your personal information.</p>
<p>We do not show advertising of any kind.</p></main></body></html>"""


@pytest.fixture(scope="module")
def two_scans(tmp_path_factory):
    """Scan twice; between the scans kiddo-maths starts selling data and swaps its tracker."""
    changing = LoopbackSite({"/": HOME_V1, "/privacy.html": POLICY_V1})
    steady = LoopbackSite({"/": STEADY_HOME, "/privacy.html": STEADY_POLICY})
    tmp = tmp_path_factory.mktemp("diff")
    targets = tmp / "targets.yaml"
    targets.write_text(yaml.safe_dump({"targets": [
        {"id": "kiddo-maths", "name": "Kiddo Maths", "audience": "child-directed",
         "homepage": changing.url + "/", "policy_urls": [changing.url + "/privacy.html"]},
        {"id": "steady-spelling", "name": "Steady Spelling", "audience": "child-directed",
         "homepage": steady.url + "/", "policy_urls": [steady.url + "/privacy.html"]},
    ]}), encoding="utf-8")
    db_path = tmp / "results.db"
    try:
        first = run_cli("scan", targets, "--db", db_path, "--allow-private", "--max-pages", 2)
        changing.pages.update({"/": HOME_V2, "/privacy.html": POLICY_V2})
        second = run_cli("scan", targets, "--db", db_path, "--allow-private", "--max-pages", 2)
        (tmp / "first-scan.out").write_text(first.stdout, encoding="utf-8")
        (tmp / "second-scan.out").write_text(second.stdout, encoding="utf-8")
    finally:
        changing.close()
        steady.close()
    return db_path, changing.url


def diff_json(db_path, *args):
    return json.loads(run_cli("diff", "--db", db_path, "--format", "json", *args).stdout)


def test_diff_reports_new_and_resolved_findings(two_scans):
    db_path, _ = two_scans
    diff = diff_json(db_path)
    assert (diff["from_scan"]["id"], diff["to_scan"]["id"]) == (1, 2)
    kiddo = {t["target_id"]: t for t in diff["targets"]}["kiddo-maths"]
    assert kiddo["changed"] and kiddo["comparable"]
    new = kiddo["new_findings"]
    assert any(f["category"] == "sale" and f["polarity"] == "risk" and "may sell" in f["evidence"]
               for f in new)
    resolved = kiddo["resolved_findings"]
    assert any(f["category"] == "sale" and f["polarity"] == "protective"
               and "do not sell" in f["evidence"] for f in resolved)
    # The sentence about the parent's email did not change: neither new nor resolved.
    assert not any("email address of a parent" in f["evidence"] for f in new + resolved)
    assert kiddo["score_delta"] > 0
    assert kiddo["after"]["score"] - kiddo["before"]["score"] == kiddo["score_delta"]


def test_diff_reports_third_parties_and_changed_policy(two_scans):
    db_path, base = two_scans
    kiddo = {t["target_id"]: t for t in diff_json(db_path)["targets"]}["kiddo-maths"]
    assert [p["domain"] for p in kiddo["new_third_parties"]] == ["facebook.net"]
    assert [p["domain"] for p in kiddo["gone_third_parties"]] == ["googletagmanager.com"]
    (changed,) = kiddo["policy_documents"]["changed"]
    assert changed["url"] == base + "/privacy.html"
    assert changed["before"]["sha256"] != changed["after"]["sha256"]
    assert any("may sell" in line for line in changed["added_lines"])
    assert any("do not sell" in line for line in changed["removed_lines"])
    db = sqlite_utils.Database(db_path)
    shas = {r["sha256"] for r in db["documents"].rows}
    assert {changed["before"]["sha256"], changed["after"]["sha256"]} <= shas


def test_unchanged_target_is_not_reported_as_changed(two_scans):
    db_path, _ = two_scans
    steady = {t["target_id"]: t for t in diff_json(db_path)["targets"]}["steady-spelling"]
    assert steady["changed"] is False
    assert steady["new_findings"] == steady["resolved_findings"] == []
    assert steady["policy_documents"] == {"changed": [], "added": [], "removed": []}
    text = run_cli("diff", "--db", db_path).stdout
    assert "kiddo-maths" in text and "steady-spelling" not in text
    assert "steady-spelling" in run_cli("diff", "--db", db_path, "--all").stdout


def test_diff_text_and_markdown(two_scans):
    db_path, _ = two_scans
    text = run_cli("diff", "--db", db_path, "--from", 1, "--to", 2).stdout
    assert "scan 1" in text and "scan 2" in text
    assert "+ third party facebook.net" in text and "- third party googletagmanager.com" in text
    assert "~ policy changed" in text
    md = run_cli("diff", "--db", db_path, "--format", "md").stdout
    assert md.startswith("# Changes from scan 1 to scan 2")
    assert "policy changed" in md and "facebook.net" in md
    reverse = diff_json(db_path, "--from", 2, "--to", 1)
    kiddo = {t["target_id"]: t for t in reverse["targets"]}["kiddo-maths"]
    assert [p["domain"] for p in kiddo["new_third_parties"]] == ["googletagmanager.com"]


def test_report_shows_what_changed_since_previous_scan(two_scans):
    db_path, _ = two_scans
    data = json.loads(run_cli("report", "--db", db_path, "--format", "json").stdout)
    by_id = {t["id"]: t for t in data["targets"]}
    assert by_id["kiddo-maths"]["changes"]["changed"] is True
    assert by_id["steady-spelling"]["changes"]["changed"] is False
    assert data["summary"]["targets_changed_since_previous_scan"] == 1
    page = run_cli("report", "--db", db_path, "--format", "html").stdout
    section = page[page.index('id="changes-kiddo-maths"'):]
    section = section[:section.index("</section>")]
    assert "policy changed" in section and "facebook.net" in section
    first = json.loads(run_cli("report", "--db", db_path, "--scan", 1, "--format", "json").stdout)
    assert all(t["changes"] is None for t in first["targets"])


def test_diff_needs_two_scans(two_scans, tmp_path):
    db_path, _ = two_scans
    result = run_cli("diff", "--db", db_path, "--to", 1, check=False)
    assert result.returncode == 2
    assert "first scan" in result.stderr and result.stderr.strip().count("\n") == 0
    result = run_cli("diff", "--db", db_path, "--from", 7, check=False)
    assert result.returncode == 2 and "no scan with id 7" in result.stderr


def test_policy_changed_canned_query(two_scans):
    db_path, base = two_scans
    metadata = build_metadata(db_path)
    (database,) = metadata["databases"].values()
    sql = database["queries"]["policy_changed_last_two_scans"]["sql"]
    rows = [dict(r) for r in sqlite_utils.Database(db_path).query(sql)]
    assert [(r["target_id"], r["url"]) for r in rows] == [("kiddo-maths", base + "/privacy.html")]
    assert rows[0]["before_sha256"] != rows[0]["after_sha256"]


def test_finding_key_ignores_cache_busters_and_spacing():
    a = {"source": "tracker", "rule_id": "t.google-ads",
         "evidence": "img https://ad.doubleclick.net/x.gif?ord=111 (Google, advertising)"}
    b = {**a, "evidence": "img  https://ad.doubleclick.net/x.gif?ord=222  (Google, advertising)"}
    c = {**a, "evidence": "img https://ad.doubleclick.net/y.gif?ord=111 (Google, advertising)"}
    assert finding_key(a) == finding_key(b) != finding_key(c)
    policy = {"source": "policy", "rule_id": "sale.x", "evidence": "See https://x.example/?a=1"}
    assert finding_key(policy) != finding_key({**policy, "evidence": "See https://x.example/?a=2"})


# --- apps: SDKs, permissions and store declarations between two scans


@pytest.fixture
def app_scans(tmp_path):
    """Two scans: kids swaps AdMob for Kidoz, adds AD_ID, starts declaring ads on its store page;
    flaky's APK cannot be downloaded the second time."""
    from appdb import ADMOB, CRASHLYTICS, KIDOZ, app_scan, finish, listing_with
    from scanner import store

    db_path = tmp_path / "apps.db"
    db = store.open_db(db_path)
    first, kids = app_scan(db, sdks=[ADMOB, CRASHLYTICS], permissions=["android.permission.INTERNET"],
                           listing=listing_with(contains_ads=False, target_ages=["Ages 6-8"]))
    _, flaky = app_scan(db, target_id="flaky", name="Flaky", sdks=[ADMOB],
                        permissions=["android.permission.CAMERA"], scan_id=first,
                        package="com.flaky")
    finish(db, first, [kids, flaky])
    second, _ = app_scan(db, sdks=[KIDOZ, CRASHLYTICS], version_name="2.2.0",
                         permissions=["android.permission.INTERNET",
                                      "com.google.android.gms.permission.AD_ID"],
                         listing=listing_with(contains_ads=True, target_ages=["Ages 6-8"]))
    db["fetch_rows"].insert({"scan_id": second, "target_id": "flaky", "url": "https://x.example/a.apk",
                          "kind": "apk", "error": "https://x.example/a.apk: HTTP 404"})
    finish(db, second, [kids, flaky])
    return db_path


def test_diff_lists_sdks_permissions_and_store_declarations_added_or_removed(app_scans):
    data = diff_json(app_scans)
    by_id = {t["target_id"]: t for t in data["targets"]}
    app = by_id["kids"]["app"]
    assert [s["sdk"] for s in app["new_sdks"]] == ["Kidoz SDK"]
    assert [s["sdk"] for s in app["gone_sdks"]] == ["Google AdMob (Google Mobile Ads SDK)"]
    assert app["gone_sdks"][0]["evidence"] == "com.google.android.gms.ads.AdView"
    assert [p["permission"] for p in app["new_permissions"]] == [
        "com.google.android.gms.permission.AD_ID"]
    assert app["new_permissions"][0]["sensitive"] is True and app["gone_permissions"] == []
    assert app["store_changes"] == [{"declaration": "contains_ads", "before": 0, "after": 1}]
    assert app["apk_changed"] and (app["before"]["version_name"], app["after"]["version_name"]) == (
        "2.1.0", "2.2.0")
    assert by_id["kids"]["changed"] is True
    summary = data["summary"]
    assert (summary["new_sdks"], summary["gone_sdks"], summary["new_permissions"],
            summary["store_declaration_changes"]) == (1, 1, 1, 1)


def test_an_apk_that_could_not_be_had_removes_no_sdk(app_scans):
    flaky = {t["target_id"]: t for t in diff_json(app_scans)["targets"]}["flaky"]["app"]
    assert flaky["comparable"] is False and flaky["after"] is None
    assert flaky["gone_sdks"] == [] and flaky["gone_permissions"] == []
    assert flaky["changed"] is False


def test_app_changes_in_text_and_markdown(app_scans):
    text = run_cli("diff", "--db", app_scans).stdout
    assert "  + SDK Kidoz SDK (Kidoz, advertising): class com.kidoz.sdk.api.KidozSDK" in text
    assert "  - SDK Google AdMob (Google Mobile Ads SDK) (Google, advertising)" in text
    assert "  + permission com.google.android.gms.permission.AD_ID (sensitive)" in text
    assert "  ~ store page contains ads: no -> yes" in text
    assert "1 SDKs added, 1 removed" in text
    assert "flaky" not in text, "a failed download is not a change"
    md = run_cli("diff", "--db", app_scans, "--format", "md").stdout
    assert "- app: added SDK Kidoz SDK (Kidoz, advertising): class com.kidoz.sdk.api.KidozSDK" in md
    assert "- app: store page contains ads: no -&gt; yes" in md  # > is entity-escaped in Markdown
    report = run_cli("report", "--db", app_scans, "--format", "html").stdout
    section = report[report.index('id="changes-kids"'):]
    assert "app: added SDK Kidoz SDK" in section[:section.index("</section>")]


def test_scan_summary_prints_grade_changes_since_previous_scan(two_scans):
    db_path, _ = two_scans
    first = (db_path.parent / "first-scan.out").read_text(encoding="utf-8")
    second = (db_path.parent / "second-scan.out").read_text(encoding="utf-8")
    assert "none to compare (first scan of these targets)" in first
    db = sqlite_utils.Database(db_path)
    grades = {(r["scan_id"], r["target_id"]): (r["grade"], r["score"]) for r in db["scores"].rows}
    (before, before_score), (after, after_score) = grades[1, "kiddo-maths"], grades[2, "kiddo-maths"]
    assert after_score > before_score
    assert "grade changes since the previous scan: 1 of 2 targets changed" in second
    line = next(x for x in second.splitlines() if x.strip().startswith("kiddo-maths:"))
    assert f"{before} ({before_score}) -> {after} ({after_score})" in line
    assert f"riskier, score {after_score - before_score:+d}; compared with scan 1" in line
    assert not any(x.strip().startswith("steady-spelling:") for x in second.splitlines())


def test_new_risk_line_is_red_whatever_its_diff_status(two_scans):
    """The added sentence that sells data is a new risk (red), the removed denial a safeguard
    gone (red too); neither is green because it was added or removed."""
    db_path, _ = two_scans
    page = run_cli("report", "--db", db_path, "--format", "html").stdout
    section = page[page.index('id="changes-kiddo-maths"'):]
    section = section[:section.index("</section>")]
    lines = re.findall(r'<li class="tone-(\w+)" data-sign="([+-])">(.*?)</li>', section, re.S)
    by_text = {re.sub(r"<[^>]+>", "", text): (tone, sign) for tone, sign, text in lines}
    added = next(k for k in by_text if "may sell your personal information" in k)
    removed = next(k for k in by_text if "do not sell your personal information" in k)
    assert by_text[added] == ("risk", "+") and "new risk" in added
    assert by_text[removed] == ("risk", "-") and "safeguard removed" in removed
    plain = [k for k, (tone, _) in by_text.items() if "email address of a parent" in k]
    assert not plain  # an unchanged line is not listed at all
    assert ".tone-risk { color: #b71c1c" in page
    text = run_cli("diff", "--db", db_path).stdout
    policy_lines = [x.strip() for x in text.splitlines() if x.startswith("      ")]
    sale_line = next(x for x in policy_lines if "may sell your personal information" in x)
    assert sale_line.startswith("+ [RISK: sale.")
    denial_line = next(x for x in policy_lines if "do not sell your personal information" in x)
    assert denial_line.startswith("- [RISK: sale.")
    md = run_cli("diff", "--db", db_path, "--format", "md").stdout
    assert any("added: **\\[RISK: sale." in x or "added: **[RISK: sale." in x
               for x in md.splitlines()), md
