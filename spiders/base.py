"""Shared behaviour of the scanner's spiders: targets, fetch records, error handling, and
knowing when a spider is done with a target (the `target_finished` signal)."""

from __future__ import annotations

import inspect
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import scrapy
from scrapy import signals
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError
from twisted.python.failure import Failure

from scanner.evidence import headers_dict, should_keep_body
from scanner.items import FetchItem
from scanner.options import DEFAULT_OPTIONS, loopback_forced
from scanner.stamps import now
from scanner.targets import Target, load_targets

# Sent (spider=, target_id=, started=monotonic time of its first request) once per target when
# the spider owes it nothing more: every request made for it answered, its callback or errback
# run to the end, every item of it through the pipelines. A spider that stops early (shutdown)
# does not send it for the targets it left unfinished.
target_finished = object()

# Request meta key: the request (or the redirect / retry copy of it) is counted for its target.
COUNTED = "scanner_counted"
# Request meta key: {url, sent_at, received_at, headers} of the response the downloader got for
# this request, before the middlewares decode it (its Content-Encoding header kept).
DOWNLOAD = "scanner_download"


class TargetTracker:
    """What one spider still owes each target: requests whose callback has not finished and
    items not yet through the pipelines. A target is finished when it owes nothing and the
    spider has moved past it in its start requests (they follow the targets' order)."""

    def __init__(self, spider: ScannerSpider, crawler):
        self.spider = spider
        self.signals = crawler.signals
        self.order = {target.id: index for index, target in enumerate(spider.targets)}
        self.owed: dict[str, int] = defaultdict(int)
        self.started: dict[str, float] = {}
        self.items: dict[int, str] = {}  # id(item) -> target id, while in the pipelines
        self.frontier = -1  # index of the furthest target a request was made for
        self.finished: set[str] = set()
        # Signals hold handlers weakly: the spider keeps this tracker, and so its methods, alive.
        for handler, signal in ((self.request_scheduled, signals.request_scheduled),
                                (self.request_dropped, signals.request_dropped),
                                (self.item_done, signals.item_scraped),
                                (self.item_done, signals.item_dropped),
                                (self.item_done, signals.item_error),
                                (self.spider_closed, signals.spider_closed)):
            self.signals.connect(handler, signal=signal)

    def in_flight(self) -> int:
        """Targets with a request made for them that are not finished yet."""
        return len(self.started.keys() - self.finished)

    async def room_for(self, limit: int) -> None:
        """Wait until fewer than `limit` targets are in flight (`limit` >= 2: the furthest
        target finishes only once the next one is started, so at least one other must)."""
        while self.in_flight() >= max(2, limit):
            await self.signals.wait_for(target_finished)

    def request_scheduled(self, request, spider):
        """Start requests are counted here; those of callbacks as they are yielded (`_count`)."""
        if spider is self.spider:
            self._adopt(request)

    def _adopt(self, request) -> None:
        target = request.meta.get("target")
        if target is None or request.meta.get(COUNTED):
            return  # not a target's, or counted already (a redirect or retry copy too)
        request.meta[COUNTED] = True
        self.started.setdefault(target.id, time.monotonic())
        self._owe(target.id, +1)
        request.callback = self._tracked(request.callback or self.spider._parse, target.id)
        request.errback = self._tracked(request.errback or _pass_failure, target.id)
        index = self.order.get(target.id, -1)
        if index > self.frontier:
            # the targets moved past: the former frontier too, which may owe nothing already
            passed = [t.id for t in self.spider.targets[max(self.frontier, 0):index]]
            self.frontier = index
            for target_id in passed:
                self._check(target_id)

    def request_dropped(self, request, spider):
        target = request.meta.get("target")
        if spider is self.spider and target is not None and request.meta.get(COUNTED):
            self._owe(target.id, -1)

    def item_done(self, item, spider, **kwargs):
        target_id = self.items.pop(id(item), None)
        if spider is self.spider and target_id is not None:
            self._owe(target_id, -1)

    def spider_closed(self, spider, reason):
        if spider is self.spider and reason == "finished":
            for target in self.spider.targets:  # those the spider had nothing to do for, too
                self._finish(target.id)

    def _owe(self, target_id: str, change: int) -> None:
        self.owed[target_id] += change
        self._check(target_id)

    def _check(self, target_id: str) -> None:
        if self.owed[target_id] <= 0 and self.order.get(target_id, -1) < self.frontier:
            self._finish(target_id)

    def _finish(self, target_id: str) -> None:
        if target_id in self.finished:
            return
        self.finished.add(target_id)
        self.signals.send_catch_log(signal=target_finished, spider=self.spider,
                                    target_id=target_id, started=self.started.get(target_id))

    def _count(self, output, target_id: str):
        """Count what a callback yields as it yields it: Scrapy queues the outputs and may
        exhaust the callback before it schedules a request or stores an item of it."""
        if isinstance(output, scrapy.Request):
            self._adopt(output)
        elif output is not None and not isinstance(output, dict) \
                and getattr(output, "target_id", None) == target_id:
            self.items[id(output)] = target_id
            self.owed[target_id] += 1
        return output

    def _tracked(self, function, target_id: str):
        """`function` (a callback or errback) that counts its items and, once its output is
        exhausted (or it fails), no longer counts its request as owed."""

        def handle(*args, **kwargs):
            try:
                output = function(*args, **kwargs)
            except BaseException:
                self._owe(target_id, -1)
                raise
            if isinstance(output, Failure) or output is None:
                self._owe(target_id, -1)
                return output
            if inspect.isawaitable(output) or hasattr(output, "__aiter__"):
                return self._each_async(output, target_id)
            return self._each(output, target_id)

        return handle

    def _each(self, outputs, target_id: str):
        try:
            for output in outputs:
                yield self._count(output, target_id)
        finally:
            self._owe(target_id, -1)

    async def _each_async(self, outputs, target_id: str):
        try:
            if inspect.isawaitable(outputs):
                outputs = await outputs
            if hasattr(outputs, "__aiter__"):
                async for output in outputs:
                    yield self._count(output, target_id)
            else:
                for output in outputs or ():
                    yield self._count(output, target_id)
        finally:
            self._owe(target_id, -1)


def _pass_failure(failure):
    """The errback of a request that had none: Scrapy handles the failure as it would have."""
    return failure


class ScannerSpider(scrapy.Spider):
    """A spider over a list of targets; `-a targets=FILE` when run with `scrapy crawl`."""

    # Request meta a download writes, carried along when another crawler's download of the same
    # request answers this one (scanner/shared_downloads.py).
    downloaded_meta = (DOWNLOAD,)

    def __init__(self, targets=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(targets, str):
            self.targets_file = targets
            targets = load_targets(targets)
        if not targets:
            raise ValueError("give the spider targets: scrapy crawl NAME -a targets=FILE")
        self.targets: list[Target] = list(targets)
        self.target_tracker: TargetTracker | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.target_tracker = TargetTracker(spider, crawler)
        crawler.signals.connect(spider._stamp_download_times, signal=signals.response_downloaded)
        return spider

    def _stamp_download_times(self, response, request, spider):
        """Record on the request when its response arrived, its headers as received and, from
        Scrapy's download_latency (request start to response headers), when it was sent."""
        if spider is not self:
            return
        received = datetime.now(timezone.utc)
        latency = request.meta.get("download_latency")
        request.meta[DOWNLOAD] = {
            "url": response.url, "received_at": _iso(received),
            "sent_at": _iso(received - timedelta(seconds=latency))
            if isinstance(latency, (int, float)) else None,
            "headers": headers_dict(response.headers),
        }

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)
        if loopback_forced():
            # However the crawl was started (a bare `scrapy crawl` too), the environment's
            # confinement wins over any setting.
            settings.set("SCANNER_LOOPBACK_ONLY", True, priority="cmdline")

    @property
    def max_pages(self) -> int:
        return self.settings.getint("SCANNER_MAX_PAGES", DEFAULT_OPTIONS.max_pages)

    @property
    def max_policy_pages(self) -> int:
        return self.settings.getint("SCANNER_MAX_POLICY_PAGES", DEFAULT_OPTIONS.max_policy_pages)

    def fetch_item(self, response, kind: str, **extra) -> FetchItem:
        request = response.request
        discovered_by = request.meta.get("discovered_by")
        # A page rendered by the browser is the DOM it built, not bytes a server sent: its
        # evidence is the screenshot and the HAR.
        keep_body = should_keep_body(kind, discovered_by) and not request.meta.get("playwright")
        download = _download_record(request, response.url)
        return FetchItem(
            target_id=request.meta["target"].id, url=first_url(response), kind=kind,
            final_url=response.url, status=response.status,
            error=None if response.status < 400 else f"HTTP {response.status}",
            content_type=response.headers.get("Content-Type", b"").decode("latin-1") or None,
            discovered_by=discovered_by, fetched_at=now(),
            request_headers=headers_dict(request.headers),
            response_headers=download.get("headers") or headers_dict(response.headers),
            request_sent_at=download.get("sent_at"),
            response_received_at=download.get("received_at"),
            raw_body=response.body if keep_body else None, **extra,
        )

    def failed_fetch(self, failure, kind: str) -> FetchItem:
        request = failure.request
        response = getattr(failure.value, "response", None)  # an HttpError has one
        download = _download_record(request, request.url)
        return FetchItem(
            target_id=request.meta["target"].id, url=request.meta.get("redirect_urls", [request.url])[0],
            kind=kind, final_url=request.url, status=None, error=describe_failure(failure),
            discovered_by=request.meta.get("discovered_by"), fetched_at=now(),
            request_headers=headers_dict(request.headers),
            response_headers=download.get("headers") or (
                headers_dict(response.headers) if response is not None else None),
            request_sent_at=download.get("sent_at"),
            response_received_at=download.get("received_at"),
        )


def _download_record(request, url: str) -> dict:
    """What the downloader recorded for this URL; empty when the record is a redirect's or
    missing (a cached response, a failure before any response)."""
    record = request.meta.get(DOWNLOAD) or {}
    return record if record.get("url") == url else {}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def first_url(response) -> str:
    """The URL first asked for, before any redirect."""
    return response.request.meta.get("redirect_urls", [response.url])[0]


def describe_failure(failure) -> str:
    if failure.check(HttpError):
        return f"HTTP {failure.value.response.status}"
    if failure.check(DNSLookupError):
        return "DNS lookup failed"
    if failure.check(TimeoutError, TCPTimedOutError):
        return "timed out"
    message = str(failure.value).strip() or failure.type.__name__
    return f"{failure.type.__name__}: {message}"[:500]
