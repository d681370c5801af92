"""The store spider: each target's Google Play listing -> one StoreListingItem of its declarations.

Thin on purpose: the page is read by scanner/store_listing.py. The data-safety page is fetched
only when the details page does not carry the section. Targets without an `android` mapping
are skipped; the address guard and robots.txt apply as to every spider (scanner/settings.py).
"""

from __future__ import annotations

import hashlib

import scrapy

from scanner.stamps import now
from scanner.items import StoreListingItem
from scanner.store_listing import (
    StoreListingError, datasafety_url, parse_store_listing, with_data_safety,
)
from spiders.base import ScannerSpider, describe_failure, first_url


class StoreSpider(ScannerSpider):
    name = "store"

    async def start(self):
        for target in self.targets:
            app = target.android  # checked when the targets were loaded: a package, a URL
            if app is None:
                continue
            yield scrapy.Request(app.listing_url, callback=self.parse_listing,
                                 errback=self.listing_failed, dont_filter=True,
                                 meta={"target": target, "package": app.package})

    def parse_listing(self, response):
        item = StoreListingItem(
            target_id=response.meta["target"].id, url=first_url(response),
            package=response.meta.get("package"), final_url=response.url, status=response.status,
            fetched_at=now(), body_sha256=hashlib.sha256(response.body).hexdigest(),
        )
        if response.status >= 400:
            item.error = f"{response.url}: HTTP {response.status}, no store listing there"
            yield item
            return
        try:
            listing = parse_store_listing(response_text(response), response.url)
        except StoreListingError as exc:
            item.error = str(exc)
            yield item
            return
        listing.package = item.package or listing.package
        item.package = listing.package
        if listing.data_safety is None and listing.package:
            item.datasafety_url = datasafety_url(response.url, listing.package)
            yield scrapy.Request(
                item.datasafety_url, callback=self.parse_datasafety, errback=self.datasafety_failed,
                dont_filter=True, meta={"target": response.meta["target"], "item": item,
                                        "listing": listing},
            )
            return
        yield finished(item, listing)

    def parse_datasafety(self, response):
        item, listing = response.meta["item"], response.meta["listing"]
        if response.status >= 400:
            yield finished(item, without_data_safety(listing, f"HTTP {response.status}"))
            return
        try:
            safety_page = parse_store_listing(response_text(response), response.url)
        except StoreListingError as exc:
            yield finished(item, without_data_safety(listing, exc.reason))
            return
        if safety_page.data_safety is None:
            yield finished(item, without_data_safety(listing, "no data-safety section in it"))
            return
        yield finished(item, with_data_safety(listing, safety_page))

    def listing_failed(self, failure):
        request = failure.request
        yield StoreListingItem(
            target_id=request.meta["target"].id, package=request.meta.get("package"),
            url=request.meta.get("redirect_urls", [request.url])[0], final_url=request.url,
            error=describe_failure(failure), fetched_at=now(),
        )

    def datasafety_failed(self, failure):
        meta = failure.request.meta
        yield finished(meta["item"], without_data_safety(meta["listing"], describe_failure(failure)))


def finished(item: StoreListingItem, listing) -> StoreListingItem:
    item.listing = listing.to_dict()
    item.privacy_policy_url = listing.privacy_policy_url
    return item


def without_data_safety(listing, reason: str):
    """The listing, its data-safety problem saying why the separate page gave nothing."""
    listing.problems = [p for p in listing.problems if not p.startswith("data_safety:")]
    listing.problems.append(f"data_safety: not on the listing, and the data-safety page gave "
                            f"nothing ({reason})")
    return listing


def response_text(response) -> str:
    if hasattr(response, "text"):
        return response.text
    return response.body.decode("utf-8", "replace")
