"""A results database with apps in it, filled through the app step's own functions
(store_analysis, store_listing_row) and the real policy rules: for cross-check, report, diff and
Datasette tests without an APK build or a crawl."""

import json
from functools import cache
from types import SimpleNamespace

from scanner import store
from scanner.app_scan import store_analysis, store_listing_row
from scanner.apps import AppAnalysis, SdkMatch, load_sdk_rules
from scanner.crosscheck import crosscheck_findings, sdk_aliases_by_id
from scanner.matching import classify, load_rules
from scanner.scoring import store_scores
from scanner.targets import Target
from scanner.trackers import TrackerList

HOME = "https://kids.example/"
POLICY_URL = "https://kids.example/privacy"
STORE_URL = "https://play.example/store/apps/details?id=com.kids.club"
APK = "/evidence/com.kids.club.apk"
TRACKERS = TrackerList.load(extra=[])
ALIASES = sdk_aliases_by_id(load_sdk_rules())

ADMOB = SdkMatch(name="Google AdMob (Google Mobile Ads SDK)", entity="Google", category="advertising",
                 evidence="com.google.android.gms.ads.AdView", source="curated 2026-12",
                 sdk_id="google-admob")
KIDOZ = SdkMatch(name="Kidoz SDK", entity="Kidoz", category="advertising",
                 evidence="com.kidoz.sdk.api.KidozSDK", source="curated 2026-12",
                 child_directed_adtech=True, sdk_id="kidoz")
CRASHLYTICS = SdkMatch(name="Google Firebase Crashlytics", entity="Google",
                       category="crash_reporting",
                       evidence="com.google.firebase.crashlytics.FirebaseCrashlytics",
                       source="curated 2026-12", sdk_id="firebase-crashlytics")
EXODUS_ONLY = SdkMatch(name="Tapjoy", entity="Tapjoy", category="advertising",
                       evidence="com.tapjoy.TapjoyConnect", source="exodus 2024-05-03",
                       sdk_id="exodus:54")


@cache
def policy_rules():
    """The policy rules, loaded and compiled once for every database these tests fill."""
    return load_rules()


def app_scan(db, *, target_id="kids", name="Kids Club", audience="child-directed", policy=None,
             sdks=(), permissions=(), listing=None, listing_error=None, scan_id=None,
             version_name="2.1.0", package="com.kids.club"):
    """A scan (new, or scan_id) of one target: policy (through the real rules), APK rows, store page."""
    target = Target(id=target_id, name=name, audience=audience, homepage=HOME)
    if scan_id is None:
        scan_id = store.start_scan(db, rules_version="test", targets_file="t.yaml", options={})
    store.upsert_targets(db, [target], scan_id)
    if policy is not None:
        document_id, _ = store.store_document(db, text=policy, content_type="text/html", lang="en",
                                              title="Privacy", scan_id=scan_id, url=POLICY_URL)
        db["fetch_rows"].insert({"scan_id": scan_id, "target_id": target_id, "url": POLICY_URL,
                              "final_url": POLICY_URL, "kind": "policy", "status": 200,
                              "document_id": document_id})
        db["scan_findings"].insert_all([
            {"scan_id": scan_id, "target_id": target_id, "source": "policy", "rule_id": f.rule_id,
             "category": f.category, "practice": f.practice, "severity": f.severity,
             "polarity": f.polarity, "evidence": f.evidence, "document_id": document_id,
             "start": f.start, "end": f.end, "url": POLICY_URL}
            for f in classify(policy, policy_rules(), lang="en")
        ])
    if sdks or permissions:
        content = json.dumps([package, version_name, [s.name for s in sdks], list(permissions)])
        analysis = AppAnalysis(path=APK, sha256=store.text_sha256(content), size=1000,
                               package=package, version_name=version_name, version_code=21,
                               min_sdk=21, target_sdk=34, permissions=list(permissions),
                               sdks=list(sdks), classes_count=10, dex_count=1)
        db["fetch_rows"].insert({"scan_id": scan_id, "target_id": target_id, "url": APK,
                              "final_url": APK, "kind": "apk", "status": None, "error": None,
                              "app_sha256": analysis.sha256})
        store_analysis(db, scan_id, target, analysis, APK)
    if listing is not None or listing_error:
        item = SimpleNamespace(target_id=target_id, url=STORE_URL, final_url=STORE_URL,
                               status=200 if not listing_error else 404, error=listing_error,
                               fetched_at=None, body_sha256="0" * 64, package=package,
                               listing=listing, datasafety_url=None)
        db["store_listings"].insert(store_listing_row(scan_id, item))
    return scan_id, target


def finish(db, scan_id, targets, score=40, grade="C"):
    """The cross-checks of each target stored and a score row written (not scoring's own)."""
    for target in targets:
        db["scan_findings"].insert_all(crosscheck_findings(db, scan_id, target, TRACKERS, ALIASES))
        with db.conn:
            store_scores(db, [{"scan_id": scan_id, "target_id": target.id, "score": score,
                               "grade": grade, "status": "scored",
                               "explanation": json.dumps({"contributions": []})}])
    store.finish_scan(db, scan_id)


def listing_with(**fields):
    listing = {"title": "Kids Club", "developer": "Kids Club Ltd", "contains_ads": None,
               "target_ages": [], "designed_for_families": False, "teacher_approved": False,
               "data_safety": None}
    safety = fields.pop("data_safety", None)
    listing.update(fields)
    if safety is not None:
        listing["data_safety"] = {"declared": True, "data_shared": [], "data_collected": [],
                                  "no_data_shared": False, "no_data_collected": False, **safety}
    return listing
