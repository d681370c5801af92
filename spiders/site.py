"""The site spider: homepage and a few same-site pages -> every third party they pull in.

Thin on purpose: resource extraction and cookie parsing live in scanner/resources.py.
Item format (kept stable for spiders/browser.py): FetchItem.resources = [(url, via)] (a
scanner.resources.PageResources, extracted when first read), FetchItem.cookies = [CookieRecord].
"""

from __future__ import annotations

from collections import defaultdict
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import HtmlResponse

from scanner.resources import PageResources, parse_set_cookie
from scanner.trackers import registrable_domain
from spiders.base import ScannerSpider

# Links to these are files, not pages: following them would spend the page budget for nothing.
NOT_PAGES = (".pdf", ".zip", ".jpg", ".jpeg", ".png", ".gif", ".svg", ".webp", ".mp3", ".mp4",
             ".avi", ".mov", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".apk", ".dmg",
             ".exe", ".css", ".js", ".json", ".xml", ".ico", ".woff", ".woff2")


class SiteSpider(ScannerSpider):
    name = "site"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pages = defaultdict(int)
        self.page_seen = defaultdict(set)

    async def start(self):
        for target in self.targets:
            for request in self.site_start(target):
                yield request

    def site_start(self, target):
        """The first request of one target: its homepage."""
        request = self.page_request(target, target.homepage, "homepage")
        if request:
            yield request

    def page_request(self, target, url, discovered_by):
        url = url.split("#")[0]
        if url in self.page_seen[target.id] or self.pages[target.id] >= self.max_pages:
            return None
        self.page_seen[target.id].add(url)
        self.pages[target.id] += 1
        return scrapy.Request(
            url, callback=self.parse_page, errback=self.page_failed, dont_filter=True,
            meta={"target": target, "discovered_by": discovered_by},
        )

    def parse_page(self, response):
        target = response.meta["target"]
        cookies = response_cookies(response)
        is_html = response.status < 400 and is_html_response(response)
        # Its resources are extracted where they are read: by the writer, which classifies
        # them (under `scanner scan` the scan process, not this worker).
        resources = PageResources(response.text, response.url,
                                  isinstance(response, HtmlResponse)) if is_html else []
        yield self.fetch_item(response, "page", resources=resources, cookies=cookies)
        if is_html:
            yield from self.follow_site_links(response, target)

    def follow_site_links(self, response, target):
        if self.pages[target.id] >= self.max_pages:
            return  # the page budget is spent: no link would be followed
        site = registrable_domain(urlsplit(response.url).hostname or "")
        for href in response.css("a[href]::attr(href)").getall():
            url = urljoin(response.url, href.strip())
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.path.lower().endswith(NOT_PAGES):
                continue
            if registrable_domain(parts.hostname or "") == site:
                request = self.page_request(target, url, "link")
                if request:
                    yield request

    def page_failed(self, failure):
        yield self.failed_fetch(failure, "page")


def is_html_response(response) -> bool:
    content_type = response.headers.get("Content-Type", b"").decode("latin-1").lower()
    if content_type:
        return "html" in content_type
    return hasattr(response, "text")


def response_cookies(response) -> list:
    """The cookies the response's Set-Cookie headers set, expiry counted from its Date header."""
    headers = response.headers.getlist("Set-Cookie")
    if not headers:
        return []  # most pages set none: no Date to read
    host = urlsplit(response.url).hostname or ""
    received = None
    date = response.headers.get("Date")
    if date:
        try:
            received = parsedate_to_datetime(date.decode("latin-1"))
        except (TypeError, ValueError, IndexError):
            received = None
    cookies = []
    for header in headers:
        cookie = parse_set_cookie(header.decode("latin-1"), host, received)
        if cookie is not None:
            cookies.append(cookie)
    return cookies
