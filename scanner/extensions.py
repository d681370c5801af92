"""Scrapy extensions: the scan lifecycle of a bare `scrapy crawl` (scanner.settings EXTENSIONS)."""

from __future__ import annotations

from scrapy import signals
from scrapy.exceptions import NotConfigured

from scanner import store
from scanner.analysis import analyse_scan
from scanner.matching import rules_version
from scanner.trackers import TrackerList


class ScanLifecycle:
    """A bare `scrapy crawl policy -a targets=F` is a scan of its own: open the scan row and its
    targets when the spider opens; cross-check, score and finish the scan when it closes.

    Disabled when SCANNER_SCAN_ID is set: `scanner scan` owns the scan and analyses it itself.
    """

    def __init__(self, db_path: str):
        self.db_path = db_path
        self.scan_id: int | None = None

    @classmethod
    def from_crawler(cls, crawler):
        if crawler.settings.getint("SCANNER_SCAN_ID"):
            raise NotConfigured("the scan is run by `scanner scan`")
        extension = cls(crawler.settings.get("SCANNER_DB"))
        # Signals hold handlers weakly; the extension manager keeps this instance alive.
        crawler.signals.connect(extension.open_scan, signal=signals.spider_opened)
        crawler.signals.connect(extension.close_scan, signal=signals.spider_closed)
        return extension

    def open_scan(self, spider) -> None:
        db = store.open_db(self.db_path)
        try:
            self.scan_id = store.start_scan(
                db, rules_version=rules_version(), targets_file=getattr(spider, "targets_file", ""),
                options={"spider": spider.name},
            )
            store.upsert_targets(db, spider.targets, self.scan_id)
        finally:
            db.close()

    def close_scan(self, spider, reason: str) -> None:
        if self.scan_id is None:
            return
        db = store.open_db(self.db_path)
        try:
            analyse_scan(db, self.scan_id, spider.targets, TrackerList.load())
            store.finish_scan(db, self.scan_id, "complete" if reason == "finished" else "interrupted")
        finally:
            db.close()
