"""The site spider: homepage and a few same-site pages -> every third party they pull in."""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urljoin, urlsplit

import scrapy

from scanner.resources import extract_resources, parse_set_cookie
from spiders.base import ScannerSpider


class SiteSpider(ScannerSpider):
    name = "site"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pages = defaultdict(int)
        self.seen = defaultdict(set)

    async def start(self):
        for target in self.targets:
            request = self.page_request(target, target.homepage, "homepage")
            if request:
                yield request

    def page_request(self, target, url, discovered_by):
        url = url.split("#")[0]
        if url in self.seen[target.id] or self.pages[target.id] >= self.max_pages:
            return None
        self.seen[target.id].add(url)
        self.pages[target.id] += 1
        return scrapy.Request(
            url, callback=self.parse_page, errback=self.page_failed, dont_filter=True,
            meta={"target": target, "discovered_by": discovered_by},
        )

    def parse_page(self, response):
        target = response.meta["target"]
        host = urlsplit(response.url).hostname
        cookies = [
            c for c in (parse_set_cookie(h.decode("latin-1"), host)
                        for h in response.headers.getlist("Set-Cookie"))
            if c is not None
        ]
        is_html = hasattr(response, "text") and response.status < 400
        resources = extract_resources(response.text, response.url) if is_html else []
        yield self.fetch_item(
            response, "page", resources=[(r.url, r.via) for r in resources], cookies=cookies,
        )
        if not is_html:
            return
        for href in response.css("a[href]::attr(href)").getall():
            url = urljoin(response.url, href.strip())
            if urlsplit(url).hostname == host and urlsplit(url).scheme in ("http", "https"):
                request = self.page_request(target, url, "link")
                if request:
                    yield request

    def page_failed(self, failure):
        yield self.failed_fetch(failure, "page")
