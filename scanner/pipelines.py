"""The item pipeline: every fetch the spiders make goes into the store with what it revealed."""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import urlsplit

from scanner import store
from scanner.matching import classify, load_rules
from scanner.resources import abp_request_type, tracker_ids
from scanner.trackers import TrackerInfo, TrackerList, is_third_party, registrable_domain


@lru_cache(maxsize=1)
def policy_rules():
    return load_rules()


@lru_cache(maxsize=256)
def document_findings(document_id: int, text: str, lang: str) -> tuple:
    """The rules' findings in one stored document: computed once per crawl, however many
    targets share the policy (one publisher's apps often do)."""
    return tuple(classify(text, policy_rules(), lang=lang))


@lru_cache(maxsize=1)
def tracker_list() -> TrackerList:
    return TrackerList.load()


class StorePipeline:
    """Writes fetches, documents, findings, third parties and cookies for one scan."""

    def __init__(self, crawler):
        self.crawler, self.stats = crawler, crawler.stats
        self.db_path = crawler.settings.get("SCANNER_DB")
        self.scan_id = crawler.settings.getint("SCANNER_SCAN_ID") or None
        self.owns_scan = False
        self.db = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self, spider=None):
        spider = spider or self.crawler.spider
        self.db = store.open_db(self.db_path)
        if self.scan_id is None:
            # Run as a bare `scrapy crawl`: this crawl is a scan of its own.
            from scanner.matching import rules_version

            self.scan_id = store.start_scan(
                self.db, rules_version=rules_version(), targets_file=getattr(spider, "targets_file", ""),
                options={"spider": getattr(spider, "name", None)},
            )
            store.upsert_targets(self.db, spider.targets, self.scan_id)
            self.owns_scan = True

    def close_spider(self, spider=None):
        spider = spider or self.crawler.spider
        if self.owns_scan:
            from scanner.postprocess import finish_scan_analysis

            finish_scan_analysis(self.db, self.scan_id, spider.targets)
            reason = self.stats.get_value("finish_reason") if self.stats else None
            store.finish_scan(self.db, self.scan_id,
                              "complete" if reason in (None, "finished") else "interrupted")
        self.db.close()

    def process_item(self, item, spider=None):
        with self.db.conn:
            self._store(item)
        self.stats.inc_value(f"scanner/fetches/{item.kind}")
        if item.error:
            self.stats.inc_value("scanner/fetch_errors")
        return item

    def _store(self, item) -> None:
        document_id = None
        if item.text:
            document_id, created = store.store_document(
                self.db, text=item.text, content_type=item.content_type or "",
                lang=item.lang or "und", title=item.title or "", scan_id=self.scan_id,
                url=item.final_url or item.url,
            )
            self.stats.inc_value("scanner/documents_new" if created else "scanner/documents_known")
        self.db["fetches"].insert(
            {
                "scan_id": self.scan_id, "target_id": item.target_id, "url": item.url,
                "final_url": item.final_url, "kind": item.kind, "status": item.status,
                "error": item.error, "document_id": document_id,
                "content_type": item.content_type, "fetched_at": item.fetched_at or store.now(),
                "discovered_by": item.discovered_by,
            }
        )
        if document_id is not None:
            self._store_policy_findings(item, document_id)
        if item.resources:
            self._store_third_parties(item)
        if item.cookies:
            self._store_cookies(item)

    def _store_policy_findings(self, item, document_id: int) -> None:
        rows = [
            {
                "scan_id": self.scan_id, "target_id": item.target_id, "source": "policy",
                "rule_id": f.rule_id, "category": f.category, "practice": f.practice,
                "severity": f.severity, "polarity": f.polarity,
                "data_types": json.dumps(f.data_types), "evidence": f.evidence,
                "document_id": document_id, "start": f.start, "end": f.end,
                "url": item.final_url or item.url,
            }
            for f in document_findings(document_id, item.text, item.lang or "auto")
        ]
        self.db["findings"].insert_all(rows, batch_size=1000)

    def _store_third_parties(self, item) -> None:
        page_url = item.final_url or item.url
        page_host = urlsplit(page_url).hostname or ""
        trackers = tracker_list()
        rows, findings = [], []
        for request_url, via in item.resources:
            host = urlsplit(request_url).hostname or ""
            if not host or not is_third_party(host, page_host, trackers):
                continue
            info, rule_id, list_source = classify_request(trackers, request_url, page_url, via)
            ids = tracker_ids(request_url)
            rows.append(
                {
                    "scan_id": self.scan_id, "target_id": item.target_id, "page_url": page_url,
                    "request_url": request_url, "host": host, "domain": registrable_domain(host),
                    "entity": info.entity if info else trackers.entity_of(host),
                    "category": info.category if info else None,
                    "is_data_broker": int(info.is_data_broker) if info else 0, "via": via,
                    "rule_id": rule_id, "tracker_ids": ",".join(ids) or None,
                    "list_source": list_source,
                }
            )
            if info and tracker_severity(info) is not None:
                id_note = f" [{', '.join(ids)}]" if ids else ""
                findings.append(
                    {
                        "scan_id": self.scan_id, "target_id": item.target_id,
                        "source": "tracker", "rule_id": rule_id,
                        "category": tracker_category(info), "practice": info.category,
                        "severity": tracker_severity(info),
                        "polarity": "neutral" if info.category == "consent" else "risk",
                        "data_types": "[]",
                        "evidence": f"{via} {request_url} ({info.entity}, {info.category}){id_note}",
                        "document_id": None, "start": None, "end": None, "url": page_url,
                    }
                )
        self.db["third_parties"].insert_all(rows, batch_size=1000)
        self.db["findings"].insert_all(findings, batch_size=1000)

    def _store_cookies(self, item) -> None:
        page_url = item.final_url or item.url
        page_host = urlsplit(page_url).hostname or ""
        trackers = tracker_list()
        rows, findings = [], []
        for c in item.cookies:
            third_party = is_third_party(c.domain, page_host, trackers)
            # A tracker's cookie keeps its name when a first-party script or server sets it.
            info = trackers.cookie_owner(c.name) or (trackers.lookup(c.domain) if third_party else None)
            via = getattr(c, "via", "header")
            rows.append(
                {
                    "scan_id": self.scan_id, "target_id": item.target_id, "page_url": page_url,
                    "name": c.name, "domain": c.domain, "third_party": int(third_party),
                    "expires": c.expires, "secure": int(c.secure), "samesite": c.samesite,
                    "http_only": int(c.http_only), "via": via,
                    "entity": info.entity if info else None,
                    "category": info.category if info else None,
                    "rule_id": info.rule_id if info else None,
                }
            )
            if info and tracker_severity(info) is not None:
                findings.append(
                    {
                        "scan_id": self.scan_id, "target_id": item.target_id,
                        "source": "tracker", "rule_id": info.rule_id,
                        "category": tracker_category(info), "practice": info.category,
                        "severity": tracker_severity(info),
                        "polarity": "neutral" if info.category == "consent" else "risk",
                        "data_types": "[]",
                        "evidence": f"cookie {c.name} for {c.domain} expires {c.expires or 'at session end'}"
                                    f" ({info.entity}, {info.category})",
                        "document_id": None, "start": None, "end": None, "url": page_url,
                    }
                )
        self.db["cookies"].insert_all(rows, batch_size=1000)
        self.db["findings"].insert_all(findings, batch_size=1000)


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


def tracker_category(info) -> str:
    if info.is_data_broker:
        return "sale"
    if info.child_directed_adtech:
        # Kid-safe ad networks say they serve contextual ads only: ad tech, not behavioural ads.
        return "tracking"
    return TRACKER_FINDINGS.get(info.category, ("tracking", "low"))[0] or "tracking"


def tracker_severity(info) -> str | None:
    """Severity of the tracker finding; None when the host is infrastructure (a CDN)."""
    if info.is_data_broker:
        return "high"
    if info.child_directed_adtech:
        return "medium"
    return TRACKER_FINDINGS.get(info.category, ("tracking", "low"))[1]
