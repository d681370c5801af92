"""The policy spider: homepage -> privacy-policy links -> policy text (HTML or PDF)."""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urljoin

import scrapy

from scanner.discovery import COMMON_POLICY_PATHS, discover_policy_links
from scanner.text import decode_body, extract_html_text, extract_pdf_text
from spiders.base import ScannerSpider


class PolicySpider(ScannerSpider):
    name = "policy"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy_pages = defaultdict(int)
        self.seen = defaultdict(set)

    @property
    def max_policy_pages(self) -> int:
        return self.settings.getint("SCANNER_MAX_POLICY_PAGES", 8)

    async def start(self):
        for target in self.targets:
            if target.policy_urls:
                for url in target.policy_urls:
                    request = self.policy_request(target, url, "targets-file")
                    if request:
                        yield request
            else:
                yield scrapy.Request(
                    target.homepage, callback=self.parse_homepage, errback=self.homepage_failed,
                    meta={"target": target, "discovered_by": "homepage"}, dont_filter=True,
                )

    def policy_request(self, target, url, discovered_by):
        if url in self.seen[target.id] or self.policy_pages[target.id] >= self.max_policy_pages:
            return None
        self.seen[target.id].add(url)
        self.policy_pages[target.id] += 1
        return scrapy.Request(
            url, callback=self.parse_policy, errback=self.policy_failed, dont_filter=True,
            meta={"target": target, "discovered_by": discovered_by},
        )

    def parse_homepage(self, response):
        target = response.meta["target"]
        yield self.fetch_item(response, "page")
        if response.status >= 400:
            return
        links = []
        if hasattr(response, "text"):
            links = discover_policy_links(response.text, response.url)
        if links:
            best = links[0].score
            for link in links:
                if link.score >= best - 5:
                    request = self.policy_request(target, link.url, "link")
                    if request:
                        yield request
            return
        for path in COMMON_POLICY_PATHS:
            request = self.policy_request(target, urljoin(response.url, path), "common-path")
            if request:
                yield request

    def homepage_failed(self, failure):
        yield self.failed_fetch(failure, "page")

    def policy_failed(self, failure):
        yield self.failed_fetch(failure, "policy")

    def parse_policy(self, response):
        if response.status >= 400:
            yield self.fetch_item(response, "policy")
            return
        content_type = response.headers.get("Content-Type", b"").decode("latin-1").lower()
        if "pdf" in content_type or response.body[:5] == b"%PDF-":
            extracted = extract_pdf_text(response.body)
        else:
            declared = getattr(response, "encoding", None)
            extracted = extract_html_text(decode_body(response.body, declared))
        yield self.fetch_item(
            response, "policy", text=extracted.text or None, title=extracted.title,
            lang=extracted.lang,
        )
