"""The item pipeline: every fetch the spiders make goes into the store with what it revealed."""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import urlsplit

from scanner import store
from scanner.matching import classify, load_rules
from scanner.trackers import TrackerList, is_third_party, registrable_domain


@lru_cache(maxsize=1)
def policy_rules():
    return load_rules()


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
            for f in classify(item.text, policy_rules(), lang=item.lang or "auto")
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
            info = trackers.lookup(host)
            rows.append(
                {
                    "scan_id": self.scan_id, "target_id": item.target_id, "page_url": page_url,
                    "request_url": request_url, "host": host, "domain": registrable_domain(host),
                    "entity": info.entity if info else None,
                    "category": info.category if info else None,
                    "is_data_broker": int(info.is_data_broker) if info else 0, "via": via,
                    "rule_id": info.rule_id if info else None,
                }
            )
            if info:
                findings.append(
                    {
                        "scan_id": self.scan_id, "target_id": item.target_id,
                        "source": "tracker", "rule_id": info.rule_id,
                        "category": tracker_category(info), "practice": info.category,
                        "severity": tracker_severity(info), "polarity": "risk",
                        "data_types": "[]",
                        "evidence": f"{via} {request_url} ({info.entity}, {info.category})",
                        "document_id": None, "start": None, "end": None, "url": page_url,
                    }
                )
        self.db["third_parties"].insert_all(rows, batch_size=1000)
        self.db["findings"].insert_all(findings, batch_size=1000)

    def _store_cookies(self, item) -> None:
        page_url = item.final_url or item.url
        page_host = urlsplit(page_url).hostname or ""
        rows = [
            {
                "scan_id": self.scan_id, "target_id": item.target_id, "page_url": page_url,
                "name": c.name, "domain": c.domain,
                "third_party": int(is_third_party(c.domain, page_host, tracker_list())),
                "expires": c.expires, "secure": int(c.secure), "samesite": c.samesite,
                "http_only": int(c.http_only), "via": "header",
            }
            for c in item.cookies
        ]
        self.db["cookies"].insert_all(rows, batch_size=1000)


TRACKER_CATEGORY_TO_FINDING = {
    "advertising": "behavioral_ads",
    "data_broker": "sale",
}


def tracker_category(info) -> str:
    if info.is_data_broker:
        return "sale"
    return TRACKER_CATEGORY_TO_FINDING.get(info.category, "tracking")


def tracker_severity(info) -> str:
    if info.is_data_broker or info.category == "advertising":
        return "high"
    if info.category in ("session_replay", "fingerprinting"):
        return "high"
    if info.category in ("analytics", "social"):
        return "medium"
    return "low"
