"""The app step of a scan: each target's APK fetched, analysed and stored with its findings.

Runs in a scan's worker before the crawl, for the targets whose `android` mapping names an
`apk` (a URL, a file, or a folder of APKs). An APK is stored once in `apps` (by sha256 of its
bytes); per scan and target go its SDKs (`app_sdks`), its permissions (`app_permissions`), a
`fetches` row of kind `apk` (with the error when it could not be had or read) and findings with
`source = 'app'`. A bad APK is one row with its reason; the other targets go on.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from scanner import store
from scanner.apps import (
    MAX_APK_BYTES, AppAnalysis, AppAnalysisError, SdkMatch, SignatureSet, analyse_apk, fetch_apk,
    is_url,
)
from scanner.findings import finding_row
from scanner.tracker_classify import tracker_category, tracker_severity

# Permissions that reach what a child is, says or where they are; `data_types` as in the
# policy rules. A child-directed app asking for one of these is a high finding.
SENSITIVE_PERMISSIONS = {
    "android.permission.ACCESS_FINE_LOCATION": ("collection", ["location"], "precise location"),
    "android.permission.ACCESS_BACKGROUND_LOCATION": ("collection", ["location"],
                                                      "location while the app is not in use"),
    "android.permission.ACCESS_COARSE_LOCATION": ("collection", ["location"], "approximate location"),
    "android.permission.RECORD_AUDIO": ("collection", ["audio"], "the microphone"),
    "android.permission.CAMERA": ("collection", ["photos"], "the camera"),
    "android.permission.READ_CONTACTS": ("collection", ["contacts"], "the address book"),
    "android.permission.GET_ACCOUNTS": ("collection", ["identifiers"], "the device's accounts"),
    "android.permission.READ_PHONE_STATE": ("collection", ["identifiers"],
                                            "phone identity and state"),
    "android.permission.READ_PHONE_NUMBERS": ("collection", ["contact"], "the phone number"),
    "android.permission.READ_SMS": ("collection", ["communications"], "text messages"),
    "android.permission.READ_CALL_LOG": ("collection", ["communications"], "the call log"),
    "android.permission.BODY_SENSORS": ("collection", ["health"], "body sensors"),
    "android.permission.ACTIVITY_RECOGNITION": ("collection", ["health"], "physical activity"),
    "com.google.android.gms.permission.AD_ID": ("tracking", ["identifiers"],
                                                "the advertising ID"),
}
# These stay high for every audience: they reach a person's location, voice or face.
HIGH_FOR_ALL = {"android.permission.ACCESS_FINE_LOCATION",
                "android.permission.ACCESS_BACKGROUND_LOCATION", "android.permission.RECORD_AUDIO"}


def apk_candidates(apk: str, package: str) -> list[Path]:
    """The APK files a local `apk:` names: the file, or a folder's APKs of that package.

    A folder filled by a downloader (apkeep names files `<package>.apk` or `<package>@<version>.apk`)
    may hold several apps; the newest file of the package is analysed.
    """
    path = Path(apk)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.suffix.lower() in (".apk", ".xapk")
                 and (p.stem == package or p.stem.startswith((package + "@", package + "_",
                                                              package + "-")))]
        return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)[:1]
    return [path]


def apk_file(app, downloads, max_bytes: int, *, allow_private: bool, url_check) -> Path:
    """The APK file a target's `apk:` names (a URL is fetched into `downloads`); an
    AppAnalysisError that names the `apk:` when there is none."""
    if is_url(app.apk):
        return fetch_apk(app.apk, downloads, max_bytes, allow_private=allow_private,
                         url_check=url_check)
    paths = apk_candidates(app.apk, app.package)
    if not paths:
        raise AppAnalysisError(f"{app.apk}: no APK of {app.package} in this folder")
    return paths[0]


def sdk_finding(scan_id: int, target, analysis: AppAnalysis, sdk: SdkMatch) -> dict | None:
    """A finding for one SDK: advertising or data-broker SDKs in a child-directed app are critical."""
    severity = tracker_severity(sdk)
    if severity is None:
        return None
    if target.child_directed and not sdk.child_directed_adtech \
            and sdk.category in ("advertising", "data_broker"):
        severity = "critical"
    category = tracker_category(sdk)
    where = f"{sdk.evidence_kind} {sdk.evidence}"
    if sdk.network_evidence:
        where += f", string {sdk.network_evidence}"
    return finding_row(
        scan_id, target.id, source="app", rule_id=f"app.sdk.{sdk.sdk_id or sdk.name}",
        category=category, practice=sdk.category, severity=severity, polarity="risk",
        evidence=f"{sdk.name} ({sdk.entity}, {sdk.category}) in {analysis.package} "
                 f"{analysis.version_name or ''}: {where} [{sdk.source}]".replace("  ", " "),
        url=analysis.path,
    )


def permission_finding(scan_id: int, target, analysis: AppAnalysis, permission: str) -> dict | None:
    """A finding for a permission that reaches sensitive data; None for the others."""
    if permission not in SENSITIVE_PERMISSIONS:
        return None
    category, data_types, what = SENSITIVE_PERMISSIONS[permission]
    severity = "high" if target.child_directed or permission in HIGH_FOR_ALL else "medium"
    short = permission.rsplit(".", 1)[-1]
    return finding_row(
        scan_id, target.id, source="app", rule_id=f"app.permission.{short.lower()}",
        category=category, practice="permission", severity=severity, polarity="risk",
        data_types=data_types,
        evidence=f"{analysis.package} {analysis.version_name or ''} asks for {short} "
                 f"({what})".replace("  ", " "),
        url=analysis.path,
    )


def store_analysis(db, scan_id: int, target, analysis: AppAnalysis, source: str) -> None:
    """One app's rows: the APK once, then its SDKs, permissions and findings for this scan."""
    db["apps"].insert({  # an APK seen before keeps its row (and its first_seen_scan)
        "sha256": analysis.sha256, "package": analysis.package,
        "version_name": analysis.version_name, "version_code": analysis.version_code,
        "min_sdk": analysis.min_sdk, "target_sdk": analysis.target_sdk, "size": analysis.size,
        "dex_count": analysis.dex_count, "classes_count": analysis.classes_count,
        "source": source, "first_seen_scan": scan_id,
    }, pk="sha256", ignore=True)
    db["app_sdks"].insert_all([
        {"scan_id": scan_id, "target_id": target.id, "app_sha256": analysis.sha256,
         "sdk": sdk.name, "sdk_id": sdk.sdk_id, "entity": sdk.entity, "category": sdk.category,
         "child_directed_adtech": int(sdk.child_directed_adtech), "evidence": sdk.evidence,
         "evidence_kind": sdk.evidence_kind, "network_evidence": sdk.network_evidence,
         "signature_source": sdk.source}
        for sdk in analysis.sdks
    ])
    db["app_permissions"].insert_all([
        {"scan_id": scan_id, "target_id": target.id, "app_sha256": analysis.sha256,
         "permission": permission, "sensitive": int(permission in SENSITIVE_PERMISSIONS)}
        for permission in analysis.permissions
    ])
    findings = [sdk_finding(scan_id, target, analysis, sdk) for sdk in analysis.sdks]
    findings += [permission_finding(scan_id, target, analysis, p) for p in analysis.permissions]
    db["scan_findings"].insert_all([f for f in findings if f])  # per scan (not shared)


def record_apk_fetch(db, scan_id: int, target, source: str, *, error: str | None,
                     seconds: float, sha256: str | None = None) -> None:
    db["fetch_rows"].insert({  # `fetches` is a view of the stored rows (m013)
        "scan_id": scan_id, "target_id": target.id, "url": source, "final_url": source,
        "kind": "apk", "status": None, "error": error, "document_id": None,
        "content_type": "application/vnd.android.package-archive", "fetched_at": store.now(),
        "discovered_by": "targets-file", "app_sha256": sha256, "seconds": round(seconds, 3),
    })


def analyse_target_apps(db, scan_id: int, targets, signatures: SignatureSet, *,
                        allow_private: bool = False, url_check=None,
                        max_bytes: int = MAX_APK_BYTES) -> dict[str, str]:
    """Analyse the APK of every target that names one; return {target id: error} of failures."""
    failures = {}
    with tempfile.TemporaryDirectory(prefix="scanner-apks-") as downloads:
        for target in targets:
            app = target.android
            if app is None or not app.apk:
                continue
            started = time.monotonic()
            try:
                path = apk_file(app, downloads, max_bytes, allow_private=allow_private,
                                url_check=url_check)
                try:
                    analysis = analyse_apk(path, signatures, max_bytes)
                except AppAnalysisError as exc:
                    raise AppAnalysisError(f"{app.apk}: {exc}") from None
            except AppAnalysisError as exc:
                message = str(exc)
                failures[target.id] = message
                with db.conn:
                    record_apk_fetch(db, scan_id, target, app.apk, error=message,
                                     seconds=time.monotonic() - started)
                continue
            if analysis.package != app.package:
                # Evidence is kept; the mismatch is said so the officer checks the file.
                analysis_note = (f"APK package {analysis.package} is not the target's "
                                 f"{app.package}")
                failures[target.id] = f"{app.apk}: {analysis_note}"
            with db.conn:
                record_apk_fetch(db, scan_id, target, app.apk, error=failures.get(target.id),
                                 seconds=time.monotonic() - started, sha256=analysis.sha256)
                store_analysis(db, scan_id, target, analysis, app.apk)
    return failures


# --------------------------------------------------------------------------- store listings


def _flag(value) -> int | None:
    return None if value is None else int(bool(value))


def store_listing_row(scan_id: int, item) -> dict:
    """The store_listings row of a StoreListingItem (spiders/store.py)."""
    listing = item.listing or {}
    safety = listing.get("data_safety") or {}
    return {
        "scan_id": scan_id, "target_id": item.target_id, "url": item.url,
        "final_url": item.final_url, "status": item.status, "error": item.error,
        "fetched_at": item.fetched_at or store.now(), "body_sha256": item.body_sha256,
        "package": item.package or listing.get("package"), "title": listing.get("title"),
        "developer": listing.get("developer"), "developer_email": listing.get("developer_email"),
        "developer_website": listing.get("developer_website"), "category": listing.get("category"),
        "privacy_policy_url": listing.get("privacy_policy_url"),
        "contains_ads": _flag(listing.get("contains_ads")),
        "in_app_purchases": _flag(listing.get("in_app_purchases")),
        "content_rating": listing.get("content_rating"),
        "target_ages": json.dumps(listing.get("target_ages") or [], ensure_ascii=False),
        "designed_for_families": _flag(listing.get("designed_for_families")),
        "teacher_approved": _flag(listing.get("teacher_approved")),
        "data_shared": json.dumps(safety.get("data_shared") or [], ensure_ascii=False),
        "data_collected": json.dumps(safety.get("data_collected") or [], ensure_ascii=False),
        "no_data_shared": _flag(safety.get("no_data_shared")) if safety else None,
        "no_data_collected": _flag(safety.get("no_data_collected")) if safety else None,
        "security_practices": json.dumps(safety.get("security_practices") or [], ensure_ascii=False),
        "datasafety_url": item.datasafety_url,
        "problems": json.dumps(listing.get("problems") or [], ensure_ascii=False),
    }


def _data_types(rows) -> str:
    names = []
    for row in rows:
        name = row.get("data_type") or row.get("category")
        if name and name not in names:
            names.append(name)
    return ", ".join(names)


def store_listing_findings(scan_id: int, item) -> list[dict]:
    """What the store page declares, as findings with source = 'store' (evidence: the page)."""
    listing = item.listing
    if not listing:
        return []
    url = item.final_url or item.url
    safety = listing.get("data_safety") or {}

    def row(rule, category, severity, polarity, evidence, data_types=()):
        return finding_row(scan_id, item.target_id, source="store", rule_id=f"store.{rule}",
                           category=category, practice=rule, severity=severity,
                           polarity=polarity, evidence=f"Store page declares: {evidence}",
                           url=url, data_types=data_types)

    findings = []
    if listing.get("contains_ads"):
        findings.append(row("contains-ads", "behavioral_ads", "low", "risk", "Contains ads"))
    if safety.get("data_shared"):
        findings.append(row("data-shared", "third_party_sharing", "medium", "risk",
                            f"data shared with third parties: {_data_types(safety['data_shared'])}"))
    elif safety.get("no_data_shared"):
        findings.append(row("no-data-shared", "third_party_sharing", "info", "protective",
                            "No data shared with third parties"))
    if safety.get("data_collected"):
        findings.append(row("data-collected", "collection", "low", "risk",
                            f"data collected: {_data_types(safety['data_collected'])}"))
    audience = [*(listing.get("target_ages") or [])]
    if listing.get("designed_for_families"):
        audience.append("Designed for Families")
    if listing.get("teacher_approved"):
        audience.append("Teacher Approved")
    if audience:
        findings.append(row("child-audience", "children", "info", "neutral",
                            "for children: " + ", ".join(audience)))
    return findings


def run_app_step(db_path, scan_id: int, targets, options) -> dict[str, str]:
    """The app step of a worker: analyse the APKs its targets name (before their crawl)."""
    if not any(t.android and t.android.apk for t in targets):
        return {}
    from scanner.apps import load_signatures
    from scanner.safety import loopback_problem

    db = store.open_db(db_path)
    try:
        return analyse_target_apps(
            db, scan_id, targets, load_signatures(), allow_private=options.allow_private,
            url_check=loopback_problem if options.loopback_only else None,
        )
    finally:
        db.close()
