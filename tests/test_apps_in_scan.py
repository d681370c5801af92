"""A regulator adds `android: {package, apk, store_url}` to a target and runs `scanner scan`:
the APK's SDKs (with the class that proves each), its permissions, its store page and the
policy the store page links to all land in the scan (sites served on 127.0.0.1 only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlite_utils

from apkbuild import ApkBuilder, ApkSpec, missing_tools
from helpers import invoke

pytestmark = [pytest.mark.crawl,
              pytest.mark.skipif(bool(missing_tools()), reason="make android-tools builds test APKs")]

STORE_PAGES = Path(__file__).parent / "pages" / "store"
POLICY = """<html><head><title>Privacy</title></head><body><main><h1>Privacy policy</h1>
<p>We collect your child's email address and device identifiers.</p>
<p>We do not share personal information with advertisers.</p></main></body></html>"""
APP = ApkSpec(package="com.tinyfox.abcgames", version_name="3.2",
              permissions=("android.permission.INTERNET", "com.google.android.gms.permission.AD_ID"),
              dex_classes=(("com.google.android.gms.ads.AdView", "com.tinyfox.abcgames.Main"),))


def test_scan_reads_the_app_its_store_page_and_the_policy_it_links(tmp_path, loopback_site):
    apk = ApkBuilder(tmp_path / "build").build(APP)
    app_site = loopback_site({"/": "<html><body><p>Tiny Fox games</p></body></html>",
                              "/legal/app-privacy": POLICY})
    listing = (STORE_PAGES / "kids_ads.html").read_text(encoding="utf-8").replace(
        "https://tinyfox.example/privacy", f"{app_site.url}/legal/app-privacy")
    store_site = loopback_site({"/store/apps/details?id=com.tinyfox.abcgames": listing})
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"""targets:
  - id: abc-kids
    audience: child-directed
    homepage: {app_site.url}/
    android:
      package: com.tinyfox.abcgames
      apk: {apk}
      store_url: {store_site.url}/store/apps/details?id=com.tinyfox.abcgames
""", encoding="utf-8")
    db_path = tmp_path / "r.db"
    result = invoke(*["scan", str(targets), "--db", str(db_path), "--allow-private"])
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(db_path)
    sdk = next(db["app_sdks"].rows_where("target_id = 'abc-kids' AND entity = 'Google'"))
    assert sdk["evidence"] == "com.google.android.gms.ads.AdView" and sdk["category"] == "advertising"
    assert {r["permission"] for r in db["app_permissions"].rows} >= {"com.google.android.gms.permission.AD_ID"}
    (listing_row,) = list(db["store_listings"].rows)
    assert listing_row["error"] is None and listing_row["contains_ads"] == 1
    assert "Ages 6-8" in json.loads(listing_row["target_ages"])
    # The policy is found through the store page (the homepage links to none).
    policy_fetch = next(db["fetches"].rows_where("kind = 'policy' AND discovered_by = 'store-listing'"))
    assert policy_fetch["url"].endswith("/legal/app-privacy") and policy_fetch["document_id"]
    sources = {r["source"] for r in db["findings"].rows_where("target_id = 'abc-kids'")}
    assert {"app", "store", "policy"} <= sources
    critical = [r for r in db["findings"].rows_where("source = 'app' AND severity = 'critical'")]
    assert critical and "AdView" in critical[0]["evidence"]
    score = next(db["scores"].rows)
    assert score["status"] == "scored"


def test_the_demo_app_is_read_inside_and_held_to_its_store_page(demo_scan_db):
    """The demo's Tiny Tunes TV app: ad SDKs proved by class, and its store page's
    'No data shared' contradicted by them."""
    db = sqlite_utils.Database(demo_scan_db)
    sdks = {r["entity"]: r["evidence"] for r in db["app_sdks"].rows_where("target_id = 'tiny-tunes-tv'")}
    assert sdks["Google"] == "com.google.android.gms.ads.AdView"
    assert sdks["Unity"] == "com.unity3d.ads.UnityAds"
    rules = {r["rule_id"] for r in db["findings"].rows_where("target_id = 'tiny-tunes-tv'")}
    assert {"crosscheck.store-no-data-shared-contradicted", "crosscheck.child-app-advertising-id",
            "store.no-data-shared"} <= rules
    # Only the target with an app has app rows.
    assert {r["target_id"] for r in db["app_sdks"].rows} == {"tiny-tunes-tv"}
