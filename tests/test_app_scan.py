"""The app step of a scan: APKs of targets analysed and stored once, with findings and errors."""

from __future__ import annotations

import json

import pytest

from scanner import store
from scanner.app_scan import analyse_target_apps, store_listing_findings, store_listing_row
from scanner.apps import load_signatures
from scanner.items import StoreListingItem
from scanner.targets import AndroidApp, Target
from apkbuild import ApkBuilder, ApkSpec, missing_tools

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="make android-tools installs the APK build tools")

KIDS_APP = ApkSpec(
    package="com.example.kids", version_name="2.1",
    permissions=("android.permission.INTERNET", "android.permission.ACCESS_FINE_LOCATION",
                 "com.google.android.gms.permission.AD_ID"),
    dex_classes=(("com.google.android.gms.ads.AdView", "com.example.kids.Main"),
                 ("com.appsflyer.AppsFlyerLib",)),
)


@pytest.fixture(scope="module")
def kids_apk(tmp_path_factory):
    return ApkBuilder(tmp_path_factory.mktemp("apks")).build(KIDS_APP)


def target(target_id, apk, audience="child-directed", package="com.example.kids"):
    return Target(id=target_id, name=target_id, audience=audience,
                  homepage=f"https://{target_id}.example/",
                  android=AndroidApp(package=package, apk=str(apk)))


def scan(db, targets):
    scan_id = store.start_scan(db, rules_version="test", targets_file="t.yaml", options={})
    store.upsert_targets(db, targets, scan_id)
    failures = analyse_target_apps(db, scan_id, targets, load_signatures())
    return scan_id, failures


def test_sdks_permissions_and_findings_of_a_child_app(tmp_path, kids_apk):
    db = store.open_db(tmp_path / "r.db")
    scan_id, failures = scan(db, [target("kids", kids_apk), target("grown", kids_apk, "general")])
    assert failures == {}
    (app,) = list(db["apps"].rows)
    assert (app["package"], app["version_name"], app["dex_count"]) == ("com.example.kids", "2.1", 2)
    sdks = {(r["target_id"], r["entity"], r["category"]): r["evidence"]
            for r in db["app_sdks"].rows_where("scan_id = ?", [scan_id])}
    assert sdks[("kids", "Google", "advertising")] == "com.google.android.gms.ads.AdView"
    assert sdks[("kids", "AppsFlyer", "attribution")] == "com.appsflyer.AppsFlyerLib"
    permissions = {r["permission"] for r in db["app_permissions"].rows_where("target_id = 'kids'")}
    assert "com.google.android.gms.permission.AD_ID" in permissions
    severities = {(r["target_id"], r["rule_id"]): r["severity"]
                  for r in db["findings"].rows_where("source = 'app'")}
    # An ad SDK is critical in a child-directed app, high elsewhere.
    admob = next(k for k in severities if k[0] == "kids" and "admob" in k[1])
    assert severities[admob] == "critical"
    assert severities[("grown", admob[1])] == "high"
    assert severities[("kids", "app.permission.ad_id")] == "high"
    assert severities[("grown", "app.permission.ad_id")] == "medium"
    assert severities[("kids", "app.permission.access_fine_location")] == "high"
    assert not any(r.endswith("internet") for _, r in severities)
    fetch = next(db["fetches"].rows_where("kind = 'apk' AND target_id = 'kids'"))
    assert fetch["error"] is None and fetch["app_sha256"] == app["sha256"]


def test_an_apk_is_stored_once_across_scans(tmp_path, kids_apk):
    db = store.open_db(tmp_path / "r.db")
    first, _ = scan(db, [target("kids", kids_apk)])
    second, _ = scan(db, [target("kids", kids_apk)])
    assert db["apps"].count == 1
    assert next(db["apps"].rows)["first_seen_scan"] == first
    for scan_id in (first, second):
        assert db["app_sdks"].count_where("scan_id = ?", [scan_id]) >= 2


def test_bad_apks_are_one_row_each_and_the_rest_goes_on(tmp_path, kids_apk):
    not_zip = tmp_path / "notes.apk"
    not_zip.write_text("this is not an APK")
    truncated = tmp_path / "cut.apk"
    truncated.write_bytes(kids_apk.read_bytes()[:2000])
    empty_folder = tmp_path / "apks"
    empty_folder.mkdir()
    db = store.open_db(tmp_path / "r.db")
    scan_id, failures = scan(db, [target("not-zip", not_zip), target("cut", truncated),
                                  target("folder", empty_folder), target("good", kids_apk)])
    assert set(failures) == {"not-zip", "cut", "folder"}
    assert "not a zip" in failures["not-zip"] and str(not_zip) in failures["not-zip"]
    assert "truncated" in failures["cut"] or "corrupt" in failures["cut"]
    assert "no APK of com.example.kids" in failures["folder"]
    errors = {r["target_id"]: r["error"] for r in db["fetches"].rows_where("kind = 'apk'")}
    assert errors["good"] is None and all("\n" not in errors[t] for t in failures)
    assert db["app_sdks"].count_where("target_id = 'good'") >= 2
    assert db["app_sdks"].count_where("target_id != 'good'") == 0


def test_a_folder_of_apks_gives_the_package_s_apk(tmp_path, kids_apk):
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "com.example.kids@2.1.apk").write_bytes(kids_apk.read_bytes())
    (folder / "com.other.app.apk").write_text("not this one")
    db = store.open_db(tmp_path / "r.db")
    _, failures = scan(db, [target("kids", folder)])
    assert failures == {}
    assert db["app_sdks"].count_where("target_id = 'kids'") >= 2


def test_an_apk_of_another_package_is_analysed_and_said(tmp_path, kids_apk):
    db = store.open_db(tmp_path / "r.db")
    _, failures = scan(db, [target("kids", kids_apk, package="com.example.other")])
    assert "is not the target's com.example.other" in failures["kids"]
    assert db["app_sdks"].count_where("target_id = 'kids'") >= 2


def test_store_listing_row_and_findings():
    item = StoreListingItem(
        target_id="kids", url="https://store.example/app", final_url="https://store.example/app",
        status=200, package="com.example.kids",
        listing={"title": "Kids", "contains_ads": True, "target_ages": ["Ages 6-8"],
                 "designed_for_families": True, "privacy_policy_url": "https://kids.example/p",
                 "data_safety": {"data_shared": [{"category": "Location", "data_type": "Approximate location"}],
                                 "data_collected": [], "no_data_shared": False}},
    )
    row = store_listing_row(7, item)
    assert row["contains_ads"] == 1 and json.loads(row["target_ages"]) == ["Ages 6-8"]
    assert row["no_data_shared"] == 0 and row["privacy_policy_url"] == "https://kids.example/p"
    rules = {f["rule_id"]: f for f in store_listing_findings(7, item)}
    assert rules["store.contains-ads"]["polarity"] == "risk"
    assert "Approximate location" in rules["store.data-shared"]["evidence"]
    assert "Designed for Families" in rules["store.child-audience"]["evidence"]
    item.listing["data_safety"] = {"data_shared": [], "no_data_shared": True}
    item.listing["contains_ads"] = False
    rules = {f["rule_id"]: f for f in store_listing_findings(7, item)}
    assert rules["store.no-data-shared"]["polarity"] == "protective"
    assert "store.contains-ads" not in rules and "store.data-shared" not in rules
