"""The browser spider: the site spider's pages loaded in Chromium, so requests made by scripts
and tag managers, and cookies set by JavaScript, are seen too (`scanner scan --browser`)."""

from __future__ import annotations

from collections import defaultdict
from contextlib import suppress

from playwright.async_api import Error as PlaywrightError
from scrapy_playwright.page import PageMethod

from scanner.browser import (
    browser_settings, cookie_record, describe_browser_failure, har_path, screenshot, settle, store_har,
)
from scanner.items import FetchItem
from scanner.page_behaviour import observe_page
from spiders.site import SiteSpider


class BrowserSpider(SiteSpider):
    name = "browser"

    @classmethod
    def update_settings(cls, settings):
        # The download handler is this spider's alone: the policy spider stays plain HTTP.
        super().update_settings(settings)
        allow_private = settings.getbool("SCANNER_ALLOW_PRIVATE")
        settings.setdict(browser_settings(allow_private=allow_private), priority="spider")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.open_pages = defaultdict(int)       # target id -> pages asked for, not yet handled
        self.contexts = {}                       # target id -> its browser context
        self.cookies_recorded = defaultdict(set)
        self.har_files = {}                      # target id -> where its context writes its HAR

    @property
    def db_path(self):
        return self.settings.get("SCANNER_DB")

    def page_request(self, target, url, discovered_by):
        request = super().page_request(target, url, discovered_by)
        if request is None:
            return None
        self.open_pages[target.id] += 1
        request.meta.update(
            playwright=True,
            # One context per target: its own cookies and storage, closed when it is done.
            playwright_context=f"target:{target.id}",
            playwright_include_page=True,
            playwright_page_init_callback="scanner.browser.instrument_page",
            playwright_page_goto_kwargs={"wait_until": "load"},
            playwright_page_methods=[PageMethod(settle)],
        )
        if self.db_path:
            # Only the context's first request creates it; the HAR is written when it closes.
            written = self.har_files.setdefault(target.id, har_path(self.db_path, f"target-{target.id}"))
            request.meta["playwright_context_kwargs"] = {
                "record_har_path": str(written), "record_har_content": "omit"}
        return request

    async def parse_page(self, response):
        target = response.meta["target"]
        page = response.meta["playwright_page"]
        self.contexts[target.id] = page.context
        outputs = []
        try:
            try:
                artifacts = []
                if response.meta.get("discovered_by") == "homepage" and self.db_path:
                    # What a child sees on arrival, before the scripted typing.
                    shot = await screenshot(page, self.db_path)
                    artifacts = [shot] if shot else []
                behaviour = await observe_page(page, response.meta.get("page_observer"))
                browser_cookies = await page.context.cookies()
            finally:
                await page.close()
            # The static tier's reading of the rendered page: its resources and same-site links.
            # Read whole first, so that the links it follows count before the context may close.
            async for output in each(super().parse_page(response)):
                if isinstance(output, FetchItem):
                    output = self.with_browser_observations(output, response, browser_cookies)
                    output.behaviour, output.artifacts = behaviour, artifacts
                outputs.append(output)
        finally:
            har = await self.page_done(target.id)
        for output in outputs:
            if har and isinstance(output, FetchItem):
                output.artifacts.append(har)
            yield output

    async def page_failed(self, failure):
        request = failure.request
        page = request.meta.get("playwright_page")
        if page is not None:
            self.contexts[request.meta["target"].id] = page.context
            await page.close()
        har = await self.page_done(request.meta["target"].id)
        async for output in each(super().page_failed(failure)):
            if isinstance(output, FetchItem):
                output.read_with = "browser"
                if har:
                    output.artifacts.append(har)
                # A page that timed out or failed late may have fed trackers first.
                output.resources = [(url, "browser") for url in
                                    dict.fromkeys(request.meta.get("browser_requests", []))]
                if failure.check(PlaywrightError):
                    output.error = describe_browser_failure(
                        str(failure.value), self.settings.getbool("SCANNER_ALLOW_PRIVATE"))
            yield output

    def with_browser_observations(self, item: FetchItem, response, browser_cookies) -> FetchItem:
        """Every URL the page requested (via 'browser'), then what only the HTML shows; the
        cookies this target's context holds that no earlier page of it recorded."""
        navigation = set(response.meta.get("redirect_urls", [])) | {response.url, item.url}
        requested = [u for u in dict.fromkeys(response.meta.get("browser_requests", []))
                     if u not in navigation]
        seen = set(requested)
        item.read_with = "browser"
        item.resources = [(url, "browser") for url in requested] + [
            (url, via) for url, via in item.resources if url not in seen
        ]
        recorded = self.cookies_recorded[item.target_id]
        item.cookies = []
        for cookie in browser_cookies:
            key = (cookie["name"], cookie["domain"], cookie.get("path"))
            if key not in recorded:
                recorded.add(key)
                item.cookies.append(cookie_record(cookie))
        return item

    async def page_done(self, target_id: str) -> dict | None:
        """Count a page of the target as read; after its last one, close its context and return
        the HAR of the visit as stored (None before then, or when none was written)."""
        self.open_pages[target_id] -= 1
        if self.open_pages[target_id] <= 0 and target_id in self.contexts:
            # Free the target's browser context (and its memory) once its last page is read.
            with suppress(PlaywrightError):  # the browser may have gone already
                await self.contexts.pop(target_id).close()
            written = self.har_files.pop(target_id, None)
            if written is not None:
                return store_har(self.db_path, written)
        return None


async def each(outputs):
    """The site spider's callback output, whether it is a generator or an async one."""
    if hasattr(outputs, "__aiter__"):
        async for output in outputs:
            yield output
    else:
        for output in outputs or ():
            yield output
