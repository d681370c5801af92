"""The policy spider: homepage -> privacy-policy links -> policy pages (HTML, PDF, text).

Each policy page is stored as its own document; a policy split over several pages (next page,
numbered sections, a children's notice, a cookie policy) is followed up to
SCANNER_MAX_POLICY_PAGES per target. Link discovery and text extraction live in scanner/.
"""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urljoin

import scrapy

from scanner.discovery import (
    COMMON_POLICY_PATHS, discover_continuation_links, discover_hub_links, discover_policy_links,
    looks_like_policy,
)
from scanner.charset import decode_body
from scanner.document_kind import document_kind
from scanner.items import FetchItem
from spiders.base import ScannerSpider

# Continuation links weaker than this (a numbered sibling, a sub-page) must read as a policy.
TRUSTED_CONTINUATION_SCORE = 20
# In a --browser scan, an HTML policy page whose static text is shorter than this is read again
# from the rendered page (a policy written by JavaScript), at most this many times per target.
MIN_STATIC_POLICY_CHARS = 200
MAX_BROWSER_POLICY_READS = 2


class PolicySpider(ScannerSpider):
    name = "policy"

    def __init__(self, *args, store_policy_urls=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy_pages = defaultdict(int)
        self.policy_seen = defaultdict(set)
        # {target id: the privacy policy its app's store listing links to}: read beside what
        # the homepage leads to, so an app without a website of its own still gets its policy.
        self.store_policy_urls = dict(store_policy_urls or {})
        self.browser_reads = defaultdict(int)

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)
        from scanner.browser import playwright_handler_settings, scan_uses_browser

        if scan_uses_browser(settings):
            # Chromium starts only if a policy needs it; other requests stay plain HTTP.
            settings.set("SCANNER_BROWSER", True, priority="spider")
            settings.setdict(playwright_handler_settings(settings.getbool("SCANNER_ALLOW_PRIVATE")),
                             priority="spider")

    async def start(self):
        for target in self.targets:
            for request in self.policy_start(target):
                yield request

    def policy_start(self, target):
        """The first requests of one target: its policy URLs from the targets file, else the
        policy its store listing links to and its homepage (to discover the policy from)."""
        if target.policy_urls:
            for url in target.policy_urls:
                request = self.policy_request(target, url, "targets-file")
                if request:
                    yield request
            return
        if self.store_policy_urls.get(target.id):
            request = self.policy_request(target, self.store_policy_urls[target.id], "store-listing")
            if request:
                yield request
        yield self.policy_job_request(
            target.homepage, self.parse_homepage, self.homepage_failed,
            {"target": target, "discovered_by": "homepage"})

    def policy_job_request(self, url, callback, errback, meta) -> scrapy.Request:
        """Every request of the policy spider's job is made here (spiders/scan.py gives them a
        cookie jar of their own)."""
        return scrapy.Request(url, callback=callback, errback=errback, meta=meta, dont_filter=True)

    def policy_request(self, target, url, discovered_by, *, must_look_like_policy=False,
                       fallback=()):
        """A request for one policy page, or None when seen or over the per-target bound."""
        if url in self.policy_seen[target.id] or self.policy_pages[target.id] >= self.max_policy_pages:
            return None
        self.policy_seen[target.id].add(url)
        self.policy_pages[target.id] += 1
        return self.policy_job_request(
            url, self.parse_policy, self.policy_failed,
            {"target": target, "discovered_by": discovered_by,
             "must_look_like_policy": must_look_like_policy, "fallback": list(fallback)})

    def parse_homepage(self, response):
        target = response.meta["target"]
        yield self.fetch_item(response, "page")
        if response.status >= 400:
            return
        html = decode_body(response.body, content_type=_content_type(response))
        links = discover_policy_links(html, response.url)
        yield from self.follow_policy_links(target, links)
        if links:
            return
        paths = [urljoin(response.url, path) for path in COMMON_POLICY_PATHS]
        hubs = [url for url in discover_hub_links(html, response.url) if url not in self.policy_seen[target.id]]
        if hubs:
            # A "Legal" page is one more hop to the policy; the common paths stay the fallback.
            self.policy_seen[target.id].add(hubs[0])
            yield self.policy_job_request(
                hubs[0], self.parse_hub, self.hub_failed,
                {"target": target, "discovered_by": "legal-hub", "fallback": paths})
        else:
            yield from self.next_fallback(target, paths)

    def follow_policy_links(self, target, links):
        for link in links:
            request = self.policy_request(target, link.url, link.how)
            if request:
                yield request

    def parse_hub(self, response):
        target = response.meta["target"]
        yield self.fetch_item(response, "page")
        links = []
        if response.status < 400:
            html = decode_body(response.body, content_type=_content_type(response))
            links = discover_policy_links(html, response.url)
        yield from self.follow_policy_links(target, links)
        if not links:
            yield from self.next_fallback(target, response.meta.get("fallback") or [])

    def hub_failed(self, failure):
        yield self.failed_fetch(failure, "page")
        request = failure.request
        yield from self.next_fallback(request.meta["target"], request.meta.get("fallback") or [])

    def next_fallback(self, target, urls):
        """Try the common policy paths one after another until one holds a policy."""
        while urls:
            request = self.policy_request(target, urls[0], "common-path",
                                          must_look_like_policy=True, fallback=urls[1:])
            urls = urls[1:]
            if request:
                yield request
                return

    def homepage_failed(self, failure):
        yield self.failed_fetch(failure, "page")

    def policy_failed(self, failure):
        yield self.failed_fetch(failure, "policy")
        request = failure.request
        yield from self.next_fallback(request.meta["target"], request.meta.get("fallback") or [])

    async def rendered_policy_failed(self, failure):
        """The browser could not load the page: the static reading stands."""
        request = failure.request
        if request.meta.get("playwright_page") is not None:
            await close_page_and_context(request.meta["playwright_page"])
        item = self.failed_fetch(failure, "policy")
        item.read_with = "browser"
        yield item
        for output in self.parse_policy(request.meta["static_response"], browser_tried=True):
            yield output

    def parse_policy(self, response, browser_tried=False):
        target = response.meta["target"]
        self.policy_seen[target.id].add(response.url)
        fallback = response.meta.get("fallback") or []
        if response.status >= 400:
            yield self.fetch_item(response, "policy")
            yield from self.next_fallback(target, fallback)
            return
        content_type = _content_type(response)
        kind = document_kind(response.body, content_type)
        if kind in ("html", "text") and not response.meta.get("must_look_like_policy") \
                and not self.settings.getbool("SCANNER_BROWSER"):
            # The crawl needs only the page's links to go on: its text is extracted by the
            # writer (under `scanner scan` the scan process, not this worker), as
            # extract_document would here. Such a body always yields a reading.
            yield self.fetch_item(response, "policy", policy_body=response.body)
            if kind == "html":
                yield from self.follow_continuation_links(
                    target, decode_body(response.body, content_type=content_type), response.url)
            return
        from scanner.extract import DocumentError, extract_document  # (BeautifulSoup)

        try:
            extracted = extract_document(response.body, content_type, response.url)
        except DocumentError as exc:
            yield self.fetch_item(response, "policy", error=str(exc))
            # A guessed path that serves an image or a broken PDF is no reason to stop guessing.
            yield from self.next_fallback(target, fallback)
            return
        if not browser_tried and self.needs_browser_read(response, extracted):
            # Recorded once the rendered page shows whether its text was only a shell.
            yield self.browser_policy_request(response)
            return
        if response.meta.get("must_look_like_policy") and not looks_like_policy(
            extracted.text, extracted.title
        ):
            yield self.fetch_item(response, "policy",
                                  error="not a privacy policy (no privacy terms in the page)")
            yield from self.next_fallback(target, fallback)
            return
        yield self.fetch_item(
            response, "policy", text=extracted.text or None, title=extracted.title,
            lang=extracted.lang, headings=extracted.headings,
        )
        if extracted.html is not None:
            yield from self.follow_continuation_links(target, extracted.html, response.url)

    def follow_continuation_links(self, target, html: str, url: str):
        for link in discover_continuation_links(html, url, target.homepage):
            request = self.policy_request(
                target, link.url, link.how,
                must_look_like_policy=link.how == "continuation"
                and link.score < TRUSTED_CONTINUATION_SCORE,
            )
            if request:
                yield request

    def fetch_item(self, response, kind, error=None, **extra):
        item = super().fetch_item(response, kind, **extra)
        item.read_with = response.meta.get("read_with", "static")
        if error:
            item.error = error
        return item

    def needs_browser_read(self, response, extracted) -> bool:
        target = response.meta["target"]
        return (self.settings.getbool("SCANNER_BROWSER") and extracted.html is not None
                and len((extracted.text or "").strip()) < MIN_STATIC_POLICY_CHARS
                and self.browser_reads[target.id] < MAX_BROWSER_POLICY_READS)

    def browser_policy_request(self, response):
        """The same policy page loaded in Chromium, read once its scripts have written it."""
        from scrapy_playwright.page import PageMethod

        from scanner.browser import settle

        target = response.meta["target"]
        self.browser_reads[target.id] += 1
        return self.policy_job_request(
            response.url, self.parse_rendered_policy, self.rendered_policy_failed,
            {**{k: response.meta.get(k) for k in ("target", "discovered_by",
                                                    "must_look_like_policy", "fallback")},
             "read_with": "browser", "static_response": response, "playwright": True,
             "playwright_context": f"policy:{target.id}", "playwright_include_page": True,
             "playwright_page_goto_kwargs": {"wait_until": "load"},
             "playwright_page_methods": [PageMethod(settle)]})

    async def parse_rendered_policy(self, response):
        from scanner.browser import screenshot

        page = response.meta.get("playwright_page")
        artifacts = []
        if page is not None:
            try:
                if self.settings.get("SCANNER_DB"):
                    shot = await screenshot(page, self.settings.get("SCANNER_DB"))
                    artifacts = [shot] if shot else []
            finally:
                await close_page_and_context(page)
        static = response.meta["static_response"]
        if rendered_length(response) <= rendered_length(static):
            # Scripts added nothing: the static text is the policy, and the browser fetch is
            # recorded without a document of its own.
            item = self.fetch_item(response, "policy")
            item.artifacts, artifacts = artifacts, []
            yield item
            outputs = self.parse_policy(static, browser_tried=True)
        else:
            # The static text was the page's shell: its fetch keeps no document.
            yield self.fetch_item(static, "policy")
            outputs = self.parse_policy(response, browser_tried=True)
        for output in outputs:
            if artifacts and isinstance(output, FetchItem) and output.kind == "policy":
                output.artifacts, artifacts = artifacts, []
            yield output


def rendered_length(response) -> int:
    from scanner.extract import DocumentError, extract_document

    try:
        return len(extract_document(response.body, _content_type(response), response.url).text or "")
    except DocumentError:
        return 0


async def close_page_and_context(page) -> None:
    """A browser policy read has a context of its own: close it with its page."""
    from playwright.async_api import Error as PlaywrightError

    try:
        await page.close()
        await page.context.close()
    except PlaywrightError:  # the browser may have gone already
        pass


def _content_type(response) -> str:
    return response.headers.get("Content-Type", b"").decode("latin-1")
