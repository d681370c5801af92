"""What a third-party request or cookie is (entity, category, the rule that fired) and the
tracker finding it makes. The TrackerList is always passed in: the caller loads it once."""

from __future__ import annotations

from urllib.parse import urlsplit

from scanner.findings import finding_row
from scanner.resources import abp_request_type
from scanner.trackers import TrackerInfo, TrackerList, registrable_domain

# Finding category and severity per tracker category; None = recorded, not a finding.
TRACKER_FINDINGS = {
    "advertising": ("behavioral_ads", "high"),
    "data_broker": ("sale", "high"),
    "session_replay": ("tracking", "high"),
    "fingerprinting": ("tracking", "high"),
    "profiling": ("tracking", "high"),
    "location": ("tracking", "high"),
    "attribution": ("tracking", "medium"),
    "analytics": ("tracking", "medium"),
    "social": ("tracking", "medium"),
    "tag_manager": ("tracking", "medium"),
    "email": ("tracking", "medium"),
    "identification": ("tracking", "medium"),
    "cryptomining": ("tracking", "medium"),
    "consent": ("tracking", "info"),
    "content": ("tracking", "low"),
    "anti_fraud": ("tracking", "low"),
    "crash_reporting": ("tracking", "low"),
    "unclassified": ("tracking", "low"),
    "cdn": (None, None),
}


def classify_request(trackers: TrackerList, request_url: str, page_url: str, via: str):
    """(TrackerInfo or None, rule id, list name): entity lists first, then ABP filter lists."""
    host = urlsplit(request_url).hostname or ""
    info = trackers.lookup(host)
    if info:
        return info, info.rule_id, info.source
    matched = trackers.match_filters(request_url, page_url, abp_request_type(via))
    if not matched:
        return None, None, None
    abp, rule = matched
    entity = trackers.entity_of(host) or registrable_domain(host)
    info = TrackerInfo(domain=registrable_domain(host), entity=entity, category=abp.category,
                       is_data_broker=False, rule_id=f"abp:{rule}", source=abp.name,
                       version=abp.version, license=abp.license)
    return info, info.rule_id, abp.name


def classify_cookie(trackers: TrackerList, name: str, domain: str, third_party: bool) -> TrackerInfo | None:
    """The tracker a cookie belongs to: by its name, else (third-party only) by its domain."""
    # A tracker's cookie keeps its name when a first-party script or server sets it.
    return trackers.cookie_owner(name) or (trackers.lookup(domain) if third_party else None)


def tracker_category(info: TrackerInfo) -> str:
    """The finding category of a tracker (or an app's SDK: scanner.apps.SdkMatch)."""
    if info.is_data_broker:
        return "sale"
    if info.child_directed_adtech:
        # Kid-safe ad networks say they serve contextual ads only: ad tech, not behavioural ads.
        return "tracking"
    return TRACKER_FINDINGS.get(info.category, ("tracking", "low"))[0] or "tracking"


def tracker_severity(info: TrackerInfo) -> str | None:
    """Severity of the tracker (or SDK) finding; None when it is infrastructure (a CDN)."""
    if info.is_data_broker:
        return "high"
    if info.child_directed_adtech:
        return "medium"
    return TRACKER_FINDINGS.get(info.category, ("tracking", "low"))[1]


def _tracker_finding(scan_id, target_id, info: TrackerInfo, rule_id: str, evidence: str,
                     page_url: str) -> dict | None:
    severity = tracker_severity(info)
    if severity is None:
        return None
    return finding_row(
        scan_id, target_id, source="tracker", rule_id=rule_id, category=tracker_category(info),
        practice=info.category, severity=severity,
        polarity="neutral" if info.category == "consent" else "risk",
        evidence=evidence, url=page_url,
    )


def request_finding(scan_id, target_id, info: TrackerInfo, rule_id: str, *, request_url: str,
                    page_url: str, via: str, ids=()) -> dict | None:
    """The finding a classified request makes, or None for infrastructure (a CDN)."""
    id_note = f" [{', '.join(ids)}]" if ids else ""
    return _tracker_finding(scan_id, target_id, info, rule_id,
                            f"{via} {request_url} ({info.entity}, {info.category}){id_note}",
                            page_url)


def cookie_finding(scan_id, target_id, info: TrackerInfo, cookie, *, page_url: str) -> dict | None:
    """The finding a tracker's cookie makes, or None for infrastructure (a CDN)."""
    return _tracker_finding(
        scan_id, target_id, info, info.rule_id,
        f"cookie {cookie.name} for {cookie.domain} expires {cookie.expires or 'at session end'}"
        f" ({info.entity}, {info.category})",
        page_url,
    )
