"""Scrapy extensions: the scan lifecycle of a bare `scrapy crawl` (scanner.settings EXTENSIONS)."""

from __future__ import annotations

import time

from scrapy import signals
from scrapy.exceptions import NotConfigured

from scanner.observations import ObservationBuffer
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
        # Here, not at import: the workers of `scanner scan` load this module, not the rules.
        from scanner import store
        from scanner.matching import rules_version

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
        # Here, not at import: the workers of `scanner scan` load this module but never analyse.
        from scanner import store
        from scanner.analysis import analyse_scan

        db = store.open_db(self.db_path)
        try:
            analyse_scan(db, self.scan_id, spider.targets, TrackerList.load())
            store.finish_scan(db, self.scan_id, "complete" if reason == "finished" else "interrupted")
        finally:
            db.close()


class TargetCompletion:
    """In a worker of `scanner scan`: a target is done once every part of the worker (each
    crawler's spider, each later step) has finished it; its rows, which the pipelines held in
    `observations` until then, go to `sink` (scanner.store_writer: a Forwarder to the scan
    process, or a StoreWriter), which commits them with its `scan_targets` row 'done' in one
    transaction, so an interrupted scan keeps it whole or not at all.

    Not in EXTENSIONS: one instance serves all the crawlers of a worker (`connect` each).
    """

    def __init__(self, sink, scan_id: int, target_ids, parts):
        self.sink = sink  # also the pipelines' (crawler.scanner_sink): documents and bodies
        self.scan_id = scan_id
        # The pipelines of every crawler hold each target's rows here until it is done.
        self.observations = ObservationBuffer()
        self.waiting = {target_id: set(parts) for target_id in target_ids}
        self.started: dict[str, float] = {}
        self.reachable: set[str] = set()
        self.done: list[str] = []
        self.finished_parts: set[str] = set()

    def connect(self, crawler) -> None:
        from spiders.base import target_finished

        crawler.scanner_observations = self.observations  # read by StorePipeline.__init__
        crawler.scanner_sink = self.sink
        crawler.signals.connect(self.spider_finished_target, signal=target_finished)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    def spider_closed(self, spider, reason: str) -> None:
        if reason == "finished":
            self.finished_parts.add(spider.name)

    def engine_stopped(self) -> None:
        """A spider that finished has finished every target: once its own `target_finished`
        signals are in, a target still waiting on it lost one, and its held rows are written."""
        for part in self.finished_parts:
            for target_id in list(self.waiting):
                self.part_finished(part, target_id)

    def spider_finished_target(self, spider, target_id: str, started: float | None = None):
        self.part_finished(spider.name, target_id, started)

    def item_scraped(self, item, spider):
        from scanner.items import FetchItem

        if isinstance(item, FetchItem) and item.error is None:
            self.reachable.add(item.target_id)

    def part_finished(self, part: str, target_id: str, started: float | None = None) -> None:
        """`part` (a spider's name or a step's) has nothing left to do for `target_id`."""
        waiting = self.waiting.get(target_id)
        if waiting is None or part not in waiting:
            return
        if started is not None:
            self.started[target_id] = min(started, self.started.get(target_id, started))
        waiting.discard(part)
        if waiting:
            return
        del self.waiting[target_id]
        started = self.started.get(target_id)
        # its rows (or the reference to its previous scan's) and 'done' at once
        self.sink.target(self.scan_id, target_id, self.observations.pop(target_id),
                         None if started is None else round(time.monotonic() - started, 3),
                         target_id in self.reachable)
        self.done.append(target_id)
