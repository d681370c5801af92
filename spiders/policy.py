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
from scanner.extract import DocumentError, extract_document
from spiders.base import ScannerSpider

# Continuation links weaker than this (a numbered sibling, a sub-page) must read as a policy.
TRUSTED_CONTINUATION_SCORE = 20


class PolicySpider(ScannerSpider):
    name = "policy"

    def __init__(self, *args, store_policy_urls=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy_pages = defaultdict(int)
        self.seen = defaultdict(set)
        # {target id: the privacy policy its app's store listing links to}: read beside what
        # the homepage leads to, so an app without a website of its own still gets its policy.
        self.store_policy_urls = dict(store_policy_urls or {})

    async def start(self):
        for target in self.targets:
            if target.policy_urls:
                for url in target.policy_urls:
                    request = self.policy_request(target, url, "targets-file")
                    if request:
                        yield request
            else:
                if self.store_policy_urls.get(target.id):
                    request = self.policy_request(target, self.store_policy_urls[target.id],
                                                  "store-listing")
                    if request:
                        yield request
                yield scrapy.Request(
                    target.homepage, callback=self.parse_homepage, errback=self.homepage_failed,
                    meta={"target": target, "discovered_by": "homepage"}, dont_filter=True,
                )

    def policy_request(self, target, url, discovered_by, *, must_look_like_policy=False,
                       fallback=()):
        """A request for one policy page, or None when seen or over the per-target bound."""
        if url in self.seen[target.id] or self.policy_pages[target.id] >= self.max_policy_pages:
            return None
        self.seen[target.id].add(url)
        self.policy_pages[target.id] += 1
        return scrapy.Request(
            url, callback=self.parse_policy, errback=self.policy_failed, dont_filter=True,
            meta={"target": target, "discovered_by": discovered_by,
                  "must_look_like_policy": must_look_like_policy, "fallback": list(fallback)},
        )

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
        hubs = [url for url in discover_hub_links(html, response.url) if url not in self.seen[target.id]]
        if hubs:
            # A "Legal" page is one more hop to the policy; the common paths stay the fallback.
            self.seen[target.id].add(hubs[0])
            yield scrapy.Request(
                hubs[0], callback=self.parse_hub, errback=self.hub_failed, dont_filter=True,
                meta={"target": target, "discovered_by": "legal-hub", "fallback": paths},
            )
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

    def parse_policy(self, response):
        target = response.meta["target"]
        self.seen[target.id].add(response.url)
        fallback = response.meta.get("fallback") or []
        if response.status >= 400:
            yield self.fetch_item(response, "policy")
            yield from self.next_fallback(target, fallback)
            return
        try:
            extracted = extract_document(response.body, _content_type(response), response.url)
        except DocumentError as exc:
            yield self.fetch_item(response, "policy", error=str(exc))
            # A guessed path that serves an image or a broken PDF is no reason to stop guessing.
            yield from self.next_fallback(target, fallback)
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
            lang=extracted.lang,
        )
        if extracted.html is None:
            return
        for link in discover_continuation_links(extracted.html, response.url, target.homepage):
            request = self.policy_request(
                target, link.url, link.how,
                must_look_like_policy=link.how == "continuation"
                and link.score < TRUSTED_CONTINUATION_SCORE,
            )
            if request:
                yield request

    def fetch_item(self, response, kind, error=None, **extra):
        item = super().fetch_item(response, kind, **extra)
        if error:
            item.error = error
        return item


def _content_type(response) -> str:
    return response.headers.get("Content-Type", b"").decode("latin-1")
