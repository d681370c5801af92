"""The browser spider: the site spider's pages loaded in Chromium, so requests made by scripts
and tag managers, and cookies set by JavaScript, are seen too (`scanner scan --browser`)."""

from __future__ import annotations

from collections import defaultdict
from contextlib import suppress

from playwright.async_api import Error as PlaywrightError
from scrapy_playwright.page import PageMethod

from scanner.browser import browser_settings, cookie_record, describe_browser_failure, settle
from scanner.items import FetchItem
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
        return request

    async def parse_page(self, response):
        target = response.meta["target"]
        page = response.meta["playwright_page"]
        self.contexts[target.id] = page.context
        try:
            try:
                browser_cookies = await page.context.cookies()
            finally:
                await page.close()
            # The static tier's reading of the rendered page: its resources and same-site links.
            async for output in each(super().parse_page(response)):
                if isinstance(output, FetchItem):
                    output = self.with_browser_observations(output, response, browser_cookies)
                yield output
        finally:
            await self.page_done(target.id)

    async def page_failed(self, failure):
        request = failure.request
        page = request.meta.get("playwright_page")
        if page is not None:
            self.contexts[request.meta["target"].id] = page.context
            await page.close()
        async for output in each(super().page_failed(failure)):
            if isinstance(output, FetchItem):
                # A page that timed out or failed late may have fed trackers first.
                output.resources = [(url, "browser") for url in
                                    dict.fromkeys(request.meta.get("browser_requests", []))]
                if failure.check(PlaywrightError):
                    output.error = describe_browser_failure(
                        str(failure.value), self.settings.getbool("SCANNER_ALLOW_PRIVATE"))
            yield output
        await self.page_done(request.meta["target"].id)

    def with_browser_observations(self, item: FetchItem, response, browser_cookies) -> FetchItem:
        """Every URL the page requested (via 'browser'), then what only the HTML shows; the
        cookies this target's context holds that no earlier page of it recorded."""
        navigation = set(response.meta.get("redirect_urls", [])) | {response.url, item.url}
        requested = [u for u in dict.fromkeys(response.meta.get("browser_requests", []))
                     if u not in navigation]
        seen = set(requested)
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

    async def page_done(self, target_id: str) -> None:
        self.open_pages[target_id] -= 1
        if self.open_pages[target_id] <= 0 and target_id in self.contexts:
            # Free the target's browser context (and its memory) once its last page is read.
            with suppress(PlaywrightError):  # the browser may have gone already
                await self.contexts.pop(target_id).close()


async def each(outputs):
    """The site spider's callback output, whether it is a generator or an async one."""
    if hasattr(outputs, "__aiter__"):
        async for output in outputs:
            yield output
    else:
        for output in outputs or ():
            yield output
