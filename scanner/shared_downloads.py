"""One download for the crawlers of a worker that ask for the same thing.

A `--browser` scan runs two crawlers in a worker, the policy spider's and the browser spider's
(Chromium renders the pages, the policy is read from plain HTTP), and Scrapy fetches `robots.txt`
for each of them. (Without `--browser` one crawler does both jobs: spiders/scan.py.) A
`SharedDownloads` serves the crawlers of one worker; its downloader middleware, placed next to
the downloader, hands a crawler the answer another crawler received for an identical request (same
method, URL, headers and body), or lets it wait for an identical request in flight. The answer
then passes through every other middleware of the asking crawler as a download would (redirects,
cookies, decompression, the address guard ran before), so each spider parses, records and
stores it as its own fetch; the request meta the downloader wrote (its timings) is copied along.
Requests rendered by a browser and `dont_cache` requests are never shared, and no crawler is
served its own answer again.
"""

from __future__ import annotations

from collections import OrderedDict

from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred

# Answers kept for other crawlers, at most this many bytes of bodies (oldest dropped first).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# Request meta the download wrote, carried to a crawler served the same answer; a spider may
# name more in its `downloaded_meta` attribute (spiders/base.py: its download record).
DOWNLOADED_META = ("download_latency",)
# Flag of a response one crawler received for another (Response.flags, shown in Scrapy's log).
SHARED_FLAG = "shared"


class _Answer:
    __slots__ = ("response", "meta", "owner", "served")

    def __init__(self, response, meta: dict, owner):
        self.response = response
        self.meta = meta
        self.owner = owner          # the crawler that downloaded it
        self.served: set = set()    # ids of the crawlers it was handed to


class SharedDownloads:
    """The answers of one worker's crawlers, kept until every other crawler has had them or
    `max_bytes` of newer answers push them out. Connect each crawler before it starts."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self.crawlers: list = []
        self.answers: OrderedDict[tuple, _Answer] = OrderedDict()
        self.bytes = 0
        # key -> (the request being downloaded, its crawler, [Deferreds waiting for its answer])
        self.in_flight: dict[tuple, tuple] = {}

    def connect(self, crawler) -> None:
        crawler.scanner_shared_downloads = self  # read by SharedDownloadsMiddleware.from_crawler
        self.crawlers.append(crawler)

    @staticmethod
    def key(request) -> tuple | None:
        """What makes two requests the same; None for a request never shared."""
        if request.meta.get("playwright") or request.meta.get("dont_cache"):
            return None
        headers = tuple(sorted((bytes(name).lower(), tuple(values))
                               for name, values in request.headers.items()))
        return request.method, request.url, headers, request.body

    async def answer(self, request, crawler):
        """A copy of another crawler's answer to this request (waiting for one in flight),
        or None: the request is to be downloaded, and its answer kept for the others."""
        key = self.key(request)
        if key is None:
            return None
        answer = self.answers.get(key)
        if answer is not None and answer.owner is not crawler and id(crawler) not in answer.served:
            return self._serve(key, answer, request, crawler)
        pending = self.in_flight.get(key)
        if pending is not None and pending[1] is not crawler:
            waiting: Deferred = Deferred()
            pending[2].append(waiting)
            # An _Answer, or None: the download ended without one.
            answer = await maybe_deferred_to_future(waiting)
            if answer is not None:
                return self._serve(key, answer, request, crawler)
        if key not in self.in_flight:
            self.in_flight[key] = (request, crawler, [])
        return None

    def _serve(self, key, answer: _Answer, request, crawler):
        answer.served.add(id(crawler))
        if self._served_all(answer):
            self._drop(key)
        request.meta.update(answer.meta)
        crawler.stats.inc_value("shared_downloads/served")
        return answer.response.replace(request=request, flags=[*answer.response.flags, SHARED_FLAG])

    def downloaded(self, request, response, crawler) -> None:
        """The download of `request` answered: keep the answer, hand it to those waiting."""
        pending = self._settle(request)
        if pending is None:
            return
        keys = (*DOWNLOADED_META, *getattr(crawler.spider, "downloaded_meta", ()))
        answer = _Answer(response, {k: request.meta[k] for k in keys if k in request.meta}, crawler)
        key, waiters = pending
        for waiting in waiters:
            waiting.callback(answer)
        if len(response.body) <= self.max_bytes and not self._served_all(answer):
            self._keep(key, answer)

    def failed(self, request, exception) -> None:
        """The download of `request` failed: those waiting for it download for themselves
        (a failure is not shared: a retry deserves a fresh attempt)."""
        pending = self._settle(request)
        if pending is not None:
            for waiting in pending[1]:
                waiting.callback(None)

    def release(self, crawler) -> None:
        """`crawler` closed: it asks for nothing more, and nobody waits for a download of its."""
        if crawler in self.crawlers:
            self.crawlers.remove(crawler)
        for key, (_, owner, waiters) in list(self.in_flight.items()):
            if owner is crawler:
                del self.in_flight[key]
                for waiting in waiters:
                    waiting.callback(None)

    def _settle(self, request):
        """(key, waiters) if `request` is the download others may wait for, else None."""
        key = self.key(request)
        pending = self.in_flight.get(key) if key is not None else None
        if pending is None or pending[0] is not request:
            return None
        del self.in_flight[key]
        return key, pending[2]

    def _served_all(self, answer: _Answer) -> bool:
        return all(c is answer.owner or id(c) in answer.served for c in self.crawlers)

    def _keep(self, key, answer: _Answer) -> None:
        if key in self.answers:
            self._drop(key)
        self.answers[key] = answer
        self.bytes += len(answer.response.body)
        while self.bytes > self.max_bytes and self.answers:
            self._drop(next(iter(self.answers)))

    def _drop(self, key) -> None:
        answer = self.answers.pop(key, None)
        if answer is not None:
            self.bytes -= len(answer.response.body)


class SharedDownloadsMiddleware:
    """Downloader middleware (next to the downloader) of a crawler connected to a
    `SharedDownloads`; not configured otherwise (a bare `scrapy crawl` has one crawler)."""

    def __init__(self, shared: SharedDownloads, crawler):
        self.shared = shared
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        shared = getattr(crawler, "scanner_shared_downloads", None)
        if shared is None:
            raise NotConfigured("no other crawler to share downloads with")
        from scrapy import signals

        middleware = cls(shared, crawler)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    async def process_request(self, request):
        return await self.shared.answer(request, self.crawler)

    def process_response(self, request, response):
        self.shared.downloaded(request, response, self.crawler)
        return response

    def process_exception(self, request, exception):
        self.shared.failed(request, exception)
        return None

    def spider_closed(self, spider):
        self.shared.release(self.crawler)
