"""The item pipeline: every fetch the spiders make goes into the store with what it revealed.

It stores rows only. The scan it writes to is SCANNER_SCAN_ID (set by `scanner scan`) or, under
a bare `scrapy crawl`, the scan that scanner.extensions.ScanLifecycle opened.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

from scanner.evidence import body_columns
from scanner.extensions import ScanLifecycle
from scanner.items import StoreListingItem
from scanner.observations import ObservationBuffer
from scanner.resources import PageResources
from scanner.stamps import now, text_sha256
# findings_version: the policy findings' version, stored with each fetch that has a document
from scanner.store_writer import (
    POLICY_BODY,
    THIRD_PARTIES,
    Forwarder,
    StoreWriter,
    findings_version,
)
from scanner.tracker_classify import classify_cookie, cookie_finding
from scanner.trackers import TrackerList, is_third_party


class StorePipeline:
    """Turns each fetch into rows of one scan: documents and raw bodies are stored at once (by
    content); a target's fetches, third parties, cookies and findings are held until the target
    is done, then written in one transaction, or as a reference to the same rows of its previous
    scan (observations.write_observations). Under `scanner scan` the worker's TargetCompletion holds
    them (crawler.scanner_observations) and hands them, with the documents and bodies, to its
    sink (crawler.scanner_sink: a scanner.store_writer.Forwarder to the scan process, which
    writes them) when every spider is done with the target; otherwise this pipeline writes
    (a StoreWriter of its own) and writes each target's rows when its spider closes."""

    def __init__(self, crawler):
        self.crawler, self.stats = crawler, crawler.stats
        self.db_path = crawler.settings.get("SCANNER_DB")
        self.scan_id = crawler.settings.getint("SCANNER_SCAN_ID") or None
        self.db = None
        self._trackers: TrackerList | None = None
        self.observations = getattr(crawler, "scanner_observations", None)
        self.owns_observations = self.observations is None
        if self.owns_observations:
            self.observations = ObservationBuffer()
        self.sink = getattr(crawler, "scanner_sink", None)  # else a StoreWriter at open_spider
        # Sent to the sink already by this crawl (by sha256): each is stored once.
        self.documents_sent: set[str] = set()
        self.bodies_sent: set[str] = set()
        self.policy_bodies_sent: set[str] = set()  # by store_writer.POLICY_BODY key

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @property
    def trackers(self) -> TrackerList:
        # Loaded at the first page with requests or cookies: the policy spider never needs it.
        if self._trackers is None:
            self._trackers = TrackerList.load()
        return self._trackers

    def open_spider(self, spider=None):
        if self.sink is None:  # else the worker's Forwarder: the scan process writes
            from scanner import store

            self.db = store.open_db(self.db_path)
            self.sink = StoreWriter(self.db, self.db_path)

    def close_spider(self, spider=None):
        try:
            if self.owns_observations and self.scan_id is not None:
                for target_id in self.observations.targets():
                    self.sink.rows(self.scan_id, target_id, self.observations.pop(target_id))
        finally:
            if self.db is not None:
                self.db.close()

    def process_item(self, item, spider=None):
        if self.scan_id is None:
            # A bare crawl: the extension opened the scan at spider_opened, after open_spider.
            lifecycle = self.crawler.get_extension(ScanLifecycle)
            if lifecycle is None or lifecycle.scan_id is None:
                raise RuntimeError("no SCANNER_SCAN_ID and no scan opened by the "
                                   "scanner.extensions.ScanLifecycle extension (EXTENSIONS)")
            self.scan_id = lifecycle.scan_id
        if isinstance(item, StoreListingItem):
            self._keep(item.target_id, self._store_listing(item))
            self.stats.inc_value("scanner/fetches/store")
        else:
            self._keep(item.target_id, self._store(item))
            self.stats.inc_value(f"scanner/fetches/{item.kind}")
        if item.error:
            self.stats.inc_value("scanner/fetch_errors")
        return item

    def _keep(self, target_id: str, observations: dict) -> None:
        """Hold the rows until the target is done; a row arriving after that is written now.
        Under `scanner scan` the scan process holds them (Forwarder.hold): it makes the pages'
        third parties as they come, not all when the target is done."""
        if not self.observations.accepts(target_id):
            self.sink.rows(self.scan_id, target_id, observations)
        elif isinstance(self.sink, Forwarder) and not self.owns_observations:
            self.sink.hold(self.scan_id, target_id, observations)
        else:
            self.observations.add(target_id, observations)

    def _store_listing(self, item: StoreListingItem) -> dict:
        """An app's store page: its declarations, its fetch, and its findings (source 'store')."""
        from scanner.app_scan import store_listing_findings, store_listing_row

        return {
            "fetches": [{
                "scan_id": self.scan_id, "target_id": item.target_id, "url": item.url,
                "final_url": item.final_url, "kind": "store", "status": item.status,
                "error": item.error, "document_id": None, "content_type": "text/html",
                "fetched_at": item.fetched_at or now(), "discovered_by": "targets-file",
            }],
            "store_listings": [store_listing_row(self.scan_id, item)],
            "findings": list(store_listing_findings(self.scan_id, item)),
        }

    def _store(self, item) -> dict:
        # The content-addressed rows (document, raw body) are stored now: scans share them. The
        # fetch names its document by sha256; the writer puts the document's id in its place.
        document_sha256 = self._store_document(item) if item.text else None
        policy_body = self._send_policy_body(item) if item.policy_body is not None else None
        evidence = self._evidence_columns(item)
        observations = {
            "fetches": [{
                "scan_id": self.scan_id, "target_id": item.target_id, "url": item.url,
                "final_url": item.final_url, "kind": item.kind, "status": item.status,
                "error": item.error, "document_id": None, "document_sha256": document_sha256,
                "content_type": item.content_type, "fetched_at": item.fetched_at or now(),
                "discovered_by": item.discovered_by,
                "read_with": getattr(item, "read_with", "static"),
                "findings_version": findings_version() if document_sha256 is not None else None,
                **evidence,
            }],
            "third_parties": [], "cookies": [], "findings": [],
        }
        if policy_body is not None:  # the writer extracts the text; a placeholder until then
            observations["fetches"][0][POLICY_BODY] = policy_body
        if isinstance(item.resources, PageResources) or item.resources:
            self._third_parties(item, observations)
        if item.cookies:
            self._cookies(item, observations)
        self._browser_observations(item, observations)
        return observations

    def _store_document(self, item) -> str:
        """Hand the sink the document (once per crawl), which stores its findings when they
        are not stored already (a document's findings are stored once per findings version;
        each fetch of it, by its findings_version column, makes them findings of its scan and
        target: the findings view); its sha256."""
        digest = text_sha256(item.text)
        if digest in self.documents_sent:
            self.stats.inc_value("scanner/documents_known")
            return digest
        created = self.sink.document({
            "sha256": digest, "text": item.text, "content_type": item.content_type or "",
            "lang": item.lang or "und", "title": item.title or "", "scan_id": self.scan_id,
            "url": item.final_url or item.url, "headings": item.headings,
            "read_with": getattr(item, "read_with", "static"),
            "findings_version": findings_version(), "classify_lang": item.lang or "auto",
        })
        self.documents_sent.add(digest)
        if created is not None:  # a Forwarder does not know
            self.stats.inc_value("scanner/documents_new" if created else "scanner/documents_known")
        return digest

    def _send_policy_body(self, item) -> str:
        """Hand the sink a policy page's bytes (once per crawl), whose text it extracts and
        stores as `_store_document` would have (store_writer.POLICY_BODY); their key."""
        content_type = item.content_type or ""
        key = f"{hashlib.sha256(item.policy_body).hexdigest()} {content_type}"
        if key not in self.policy_bodies_sent:
            self.sink.document({
                POLICY_BODY: key, "body": item.policy_body, "content_type": content_type,
                "scan_id": self.scan_id, "url": item.final_url or item.url,
                "read_with": getattr(item, "read_with", "static")})
            self.policy_bodies_sent.add(key)
        return key

    def _evidence_columns(self, item) -> dict:
        """Headers and times of the fetch, and its raw body kept once by sha256 (docs/evidence.md)."""
        columns = {
            "request_headers": _json_or_none(item.request_headers),
            "response_headers": _json_or_none(item.response_headers),
            "request_sent_at": item.request_sent_at,
            "response_received_at": item.response_received_at,
        }
        if item.raw_body is not None and self.db_path:
            body = body_columns(item.raw_body)
            if body["raw_sha256"] not in self.bodies_sent:
                self.sink.body({"sha256": body["raw_sha256"], "data": item.raw_body,
                                "content_type": item.content_type, "scan_id": self.scan_id,
                                "url": item.final_url or item.url})
                self.bodies_sent.add(body["raw_sha256"])
            columns.update(body)
            self.stats.inc_value("scanner/bodies_kept")
        return columns

    def _third_parties(self, item, observations: dict) -> None:
        """A placeholder the writer replaces with the page's third-party rows and findings
        (store_writer.THIRD_PARTIES): under `scanner scan` the scan process makes them."""
        page = {"scan_id": self.scan_id, "target_id": item.target_id,
                "page_url": item.final_url or item.url, "resources": item.resources}
        observations["third_parties"].append({THIRD_PARTIES: page})
        observations["findings"].append({THIRD_PARTIES: page})

    def _cookies(self, item, observations: dict) -> None:
        page_url = item.final_url or item.url
        page_host = urlsplit(page_url).hostname or ""
        rows, findings = [], []
        for c in item.cookies:
            third_party = is_third_party(c.domain, page_host, self.trackers)
            info = classify_cookie(self.trackers, c.name, c.domain, third_party)
            rows.append(
                {
                    "scan_id": self.scan_id, "target_id": item.target_id, "page_url": page_url,
                    "name": c.name, "domain": c.domain, "third_party": int(third_party),
                    "expires": c.expires, "secure": int(c.secure), "samesite": c.samesite,
                    "http_only": int(c.http_only), "via": getattr(c, "via", "header"),
                    "entity": info.entity if info else None,
                    "category": info.category if info else None,
                    "rule_id": info.rule_id if info else None,
                }
            )
            finding = info and cookie_finding(self.scan_id, item.target_id, info, c,
                                              page_url=page_url)
            if finding:
                findings.append(finding)
        observations["cookies"] += rows
        observations["findings"] += findings

    def _browser_observations(self, item, observations: dict) -> None:
        """What the page did in the browser (source 'browser' findings) and its evidence files."""
        if getattr(item, "behaviour", None):
            from scanner.page_behaviour import behaviour_findings

            observations["findings"] += list(behaviour_findings(self.scan_id, item, self.trackers))
        artifacts = getattr(item, "artifacts", None)
        if artifacts:
            page_url = item.final_url or item.url
            observations["browser_artifacts"] = [
                {"scan_id": self.scan_id, "target_id": item.target_id, "page_url": page_url, **a}
                for a in artifacts]


def _json_or_none(value) -> str | None:
    """Compact JSON: the form SQLite's JSON functions give back, so that a shared fetch row read
    with this scan's header values (schema.observation_view) is the same text."""
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True,
                                                 separators=(",", ":"))
