"""Shared behaviour of the scanner's spiders: targets, fetch records, error handling."""

from __future__ import annotations

import scrapy
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError, TCPTimedOutError, TimeoutError

from scanner import store
from scanner.items import FetchItem
from scanner.options import DEFAULT_OPTIONS, loopback_forced
from scanner.targets import Target, load_targets


class ScannerSpider(scrapy.Spider):
    """A spider over a list of targets; `-a targets=FILE` when run with `scrapy crawl`."""

    def __init__(self, targets=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(targets, str):
            self.targets_file = targets
            targets = load_targets(targets)
        if not targets:
            raise ValueError("give the spider targets: scrapy crawl NAME -a targets=FILE")
        self.targets: list[Target] = list(targets)

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
        return FetchItem(
            target_id=request.meta["target"].id, url=first_url(response), kind=kind,
            final_url=response.url, status=response.status,
            error=None if response.status < 400 else f"HTTP {response.status}",
            content_type=response.headers.get("Content-Type", b"").decode("latin-1") or None,
            discovered_by=request.meta.get("discovered_by"), fetched_at=store.now(), **extra,
        )

    def failed_fetch(self, failure, kind: str) -> FetchItem:
        request = failure.request
        return FetchItem(
            target_id=request.meta["target"].id, url=request.meta.get("redirect_urls", [request.url])[0],
            kind=kind, final_url=request.url, status=None, error=describe_failure(failure),
            discovered_by=request.meta.get("discovered_by"), fetched_at=store.now(),
        )


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
