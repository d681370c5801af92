"""App cross-checks on databases filled by the app step's own functions: the SDKs inside an APK
held to the policy and the store page, and a children's app asking for the advertising ID."""

import json

import pytest

from appdb import (
    ADMOB, ALIASES, APK, CRASHLYTICS, EXODUS_ONLY, KIDOZ, STORE_URL, TRACKERS, POLICY_URL, app_scan,
    listing_with,
)
from scanner import store
from scanner.analysis import analyse_scan
from scanner.crosscheck import AD_ID_PERMISSION, child_age_bands, crosscheck_findings


@pytest.fixture
def db(tmp_path):
    return store.open_db(tmp_path / "apps.db")


def run(db, scan_id, target):
    rows = crosscheck_findings(db, scan_id, target, TRACKERS, ALIASES)
    assert all(r["source"] == "crosscheck" and r["polarity"] == "risk" and r["evidence"]
               for r in rows)
    return rows


def by_rule(rows, rule_id):
    return [r for r in rows if r["rule_id"] == rule_id]


# --- (a) an SDK the policy neither names nor describes


def test_sdks_the_policy_never_names_or_describes(db):
    scan_id, target = app_scan(db, policy="We collect your email address to run the service.",
                               sdks=[ADMOB, CRASHLYTICS])
    rows = by_rule(run(db, scan_id, target), "crosscheck.undisclosed-sdk")
    by_sdk = {r["evidence"].split(" carries ")[1].split(" (")[0]: r for r in rows}
    assert set(by_sdk) == {ADMOB.name.split(" (")[0], CRASHLYTICS.name}
    admob = by_sdk[ADMOB.name.split(" (")[0]]
    assert admob["severity"] == "high" and by_sdk[CRASHLYTICS.name]["severity"] == "medium"
    assert "class com.google.android.gms.ads.AdView" in admob["evidence"]
    assert POLICY_URL in admob["evidence"] and "com.kids.club 2.1.0" in admob["evidence"]
    assert admob["url"] == APK and admob["category"] == "third_party_sharing"


def test_an_sdk_named_by_a_signature_alias_or_described_is_disclosed(db):
    # "Fabric" is only an alias of the Crashlytics signature, not a name of Google.
    scan_id, target = app_scan(db, policy="Our app uses Fabric to find bugs.", sdks=[CRASHLYTICS])
    assert by_rule(run(db, scan_id, target), "crosscheck.undisclosed-sdk") == []
    scan_id, target = app_scan(db, policy="Our app finds bugs on its own.", sdks=[CRASHLYTICS])
    assert len(by_rule(run(db, scan_id, target), "crosscheck.undisclosed-sdk")) == 1
    scan_id, target = app_scan(db, policy="Advertising partners show ads in the free version.",
                               sdks=[ADMOB])
    assert by_rule(run(db, scan_id, target), "crosscheck.undisclosed-sdk") == []


def test_an_imported_sdk_without_aliases_is_named_by_its_entity(db):
    scan_id, target = app_scan(db, policy="We work with Tapjoy to reward players.",
                               sdks=[EXODUS_ONLY])
    assert by_rule(run(db, scan_id, target), "crosscheck.undisclosed-sdk") == []
    scan_id, target = app_scan(db, policy="We reward players with coins.", sdks=[EXODUS_ONLY])
    (row,) = by_rule(run(db, scan_id, target), "crosscheck.undisclosed-sdk")
    assert "com.tapjoy.TapjoyConnect" in row["evidence"]


def test_no_policy_no_undisclosed_sdk_finding(db):
    scan_id, target = app_scan(db, policy=None, sdks=[ADMOB])
    assert by_rule(run(db, scan_id, target), "crosscheck.undisclosed-sdk") == []


# --- (b) a policy denial contradicted by an ad SDK


def test_a_denial_of_sharing_with_advertisers_is_contradicted_by_an_ad_sdk(db):
    sentence = "We do not share your personal information with advertisers."
    scan_id, target = app_scan(db, policy=f"{sentence} Google AdMob shows ads.", sdks=[ADMOB])
    rows = by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted")
    assert {r["category"] for r in rows} == {"third_party_sharing"}
    (row,) = rows
    assert row["severity"] == "high" and sentence in row["evidence"]
    assert "com.google.android.gms.ads.AdView" in row["evidence"]
    text = db["documents"].get(row["document_id"])["text"]
    assert text[row["start"]:row["end"]].strip() == sentence


def test_we_do_not_show_ads_is_contradicted_even_by_a_kid_safe_network(db):
    scan_id, target = app_scan(db, policy="We do not show ads. We use Kidoz.", sdks=[KIDOZ])
    (row,) = by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted")
    assert row["category"] == "behavioral_ads" and "com.kidoz.sdk.api.KidozSDK" in row["evidence"]
    assert '"We do not show ads."' in row["evidence"]


def test_a_denial_of_targeted_ads_is_not_contradicted_by_a_kid_safe_network(db):
    policy = "We never show targeted ads to children. Kidoz and Google AdMob show ads."
    scan_id, target = app_scan(db, policy=policy, sdks=[KIDOZ])
    assert by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted") == []
    scan_id, target = app_scan(db, policy=policy, sdks=[ADMOB])
    (row,) = by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted")
    assert row["category"] == "behavioral_ads" and "targeted ads" in row["evidence"]


def test_a_sentence_denying_two_categories_is_held_against_an_sdk_once(db):
    scan_id, target = app_scan(db, policy="We never sell your data. AdMob.", sdks=[ADMOB])
    rows = by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted")
    assert len(rows) == 1 and '"We never sell your data."' in rows[0]["evidence"]
    scan_id, target = app_scan(db, policy="We never sell your data. We do not show ads. AdMob.",
                               sdks=[ADMOB])
    rows = by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted")
    assert {r["category"] for r in rows} == {"sale", "behavioral_ads"}


def test_no_denial_or_no_ad_sdk_no_contradiction(db):
    scan_id, target = app_scan(db, policy="We may share data with advertisers. We use AdMob.",
                               sdks=[ADMOB])
    assert by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted") == []
    scan_id, target = app_scan(db, policy="We do not sell your personal information. Fabric.",
                               sdks=[CRASHLYTICS])
    assert by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted") == []
    # "you can opt out of interest-based ads" is protective but denies nothing
    scan_id, target = app_scan(db, policy="You can opt out of interest-based advertising at "
                                          "www.aboutads.info. We use AdMob.", sdks=[ADMOB])
    assert by_rule(run(db, scan_id, target), "crosscheck.sdk-denial-contradicted") == []


# --- (c) the store page's declarations against the SDKs


def test_store_no_data_shared_and_no_ads_contradicted_by_an_ad_sdk(db):
    listing = listing_with(contains_ads=False, data_safety={"no_data_shared": True})
    scan_id, target = app_scan(db, policy="AdMob.", sdks=[ADMOB, CRASHLYTICS], listing=listing)
    rows = run(db, scan_id, target)
    (shared,) = by_rule(rows, "crosscheck.store-no-data-shared-contradicted")
    (ads,) = by_rule(rows, "crosscheck.store-no-ads-contradicted")
    assert '"No data shared with third parties"' in shared["evidence"]
    assert '"Contains ads"' in ads["evidence"]
    for row in (shared, ads):
        assert row["severity"] == "high" and row["url"] == STORE_URL
        assert "class com.google.android.gms.ads.AdView" in row["evidence"]
        assert "Crashlytics" not in row["evidence"]
    assert (shared["category"], ads["category"]) == ("third_party_sharing", "behavioral_ads")


def test_store_declarations_that_hold_give_no_contradiction(db):
    honest = listing_with(contains_ads=True, data_safety={"data_shared": [
        {"category": "Device or other IDs", "data_type": "Device or other IDs",
         "purposes": ["Advertising or marketing"], "optional": False}]})
    scan_id, target = app_scan(db, policy="AdMob.", sdks=[ADMOB], listing=honest)
    rows = run(db, scan_id, target)
    assert not [r for r in rows if r["rule_id"].startswith("crosscheck.store-")]
    # "no data shared" with only a crash reporter inside is not contradicted by an ad SDK check
    quiet = listing_with(contains_ads=False, data_safety={"no_data_shared": True})
    scan_id, target = app_scan(db, policy="Fabric.", sdks=[CRASHLYTICS], listing=quiet)
    assert not [r for r in run(db, scan_id, target) if r["rule_id"].startswith("crosscheck.store-")]
    # a page that could not be read declares nothing
    scan_id, target = app_scan(db, policy="AdMob.", sdks=[ADMOB],
                               listing_error=f"{STORE_URL}: HTTP 404, no store listing there")
    assert not [r for r in run(db, scan_id, target) if r["rule_id"].startswith("crosscheck.store-")]


# --- (d) a child-directed app asking for the advertising ID


def test_a_child_directed_app_with_ad_id_and_an_ad_sdk_is_critical(db):
    scan_id, target = app_scan(db, policy="AdMob.", sdks=[ADMOB, KIDOZ],
                               permissions=["android.permission.INTERNET", AD_ID_PERMISSION])
    (row,) = by_rule(run(db, scan_id, target), "crosscheck.child-app-advertising-id")
    assert row["severity"] == "critical" and row["url"] == APK
    assert AD_ID_PERMISSION in row["evidence"] and "registered as child-directed" in row["evidence"]
    assert "com.google.android.gms.ads.AdView" in row["evidence"]
    assert "com.kidoz" not in row["evidence"], "a kid-safe network is not why it is critical"
    assert json.loads(row["data_types"]) == ["identifiers"]


def test_a_child_directed_app_with_ad_id_and_no_behavioural_ad_sdk_is_high(db):
    scan_id, target = app_scan(db, sdks=[KIDOZ, CRASHLYTICS], permissions=[AD_ID_PERMISSION])
    (row,) = by_rule(run(db, scan_id, target), "crosscheck.child-app-advertising-id")
    assert row["severity"] == "high" and "High, not critical" in row["evidence"]


def test_a_general_audience_app_with_ad_id_is_not_a_child_finding(db):
    scan_id, target = app_scan(db, audience="general", sdks=[ADMOB],
                               permissions=[AD_ID_PERMISSION],
                               listing=listing_with(target_ages=["Ages 18+"]))
    assert by_rule(run(db, scan_id, target), "crosscheck.child-app-advertising-id") == []


def test_a_store_page_for_children_makes_the_app_child_directed(db):
    listing = listing_with(target_ages=["Ages 6-8", "Ages 13-17"], designed_for_families=True)
    scan_id, target = app_scan(db, audience="general", permissions=[AD_ID_PERMISSION],
                               listing=listing)
    (row,) = by_rule(run(db, scan_id, target), "crosscheck.child-app-advertising-id")
    assert "store page target ages Ages 6-8" in row["evidence"]
    assert "Ages 13-17" not in row["evidence"] and "Designed for Families" in row["evidence"]


def test_a_child_directed_app_without_ad_id_gives_no_finding(db):
    scan_id, target = app_scan(db, sdks=[ADMOB], permissions=["android.permission.INTERNET"])
    assert by_rule(run(db, scan_id, target), "crosscheck.child-app-advertising-id") == []


def test_child_age_bands():
    assert child_age_bands(["Ages 5 & Under", "Ages 6-8", "Ages 9-12", "Ages 13-17", "Ages 18+"]) \
        == ["Ages 5 & Under", "Ages 6-8", "Ages 9-12"]
    assert child_age_bands(["Everyone"]) == []


# --- in a scan


def test_analyse_scan_stores_the_app_crosschecks_and_replaces_them_on_a_rerun(db):
    scan_id, target = app_scan(db, policy="We do not show ads.", sdks=[ADMOB],
                               permissions=[AD_ID_PERMISSION],
                               listing=listing_with(contains_ads=False))
    for _ in range(2):
        analyse_scan(db, scan_id, [target], TRACKERS)
        rules = sorted(r["rule_id"] for r in db["findings"].rows_where(
            "scan_id = ? AND source = 'crosscheck'", [scan_id]))
        assert rules == ["crosscheck.child-app-advertising-id", "crosscheck.sdk-denial-contradicted",
                         "crosscheck.store-no-ads-contradicted", "crosscheck.undisclosed-sdk"]
