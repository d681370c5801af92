"""Store listings: the parser on the fixture pages of tests/pages/store, then the store spider,
first on in-memory responses, then in a crawl of those pages served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest
from scrapy.http import HtmlResponse, Request, Response

from helpers import PAGES as TEST_PAGES, ROOT, LoopbackSite, subprocess_env
from pages.store import build_pages
from scanner.store_listing import (
    StoreListingError, datasafety_url, parse_store_listing, with_data_safety,
)
from scanner.targets import AndroidApp, Target
from spiders.store import StoreSpider

PAGES = TEST_PAGES / "store"
PLAY = "https://play.google.com/store/apps"
ABC_URL = f"{PLAY}/details?id=com.tinyfox.abcgames&hl=en&gl=US"
PANDA_URL = f"{PLAY}/details?id=org.quietpanda.colouring&hl=en&gl=US"


def fixture(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def declared(rows):
    return [(r.category, r.data_type, r.purposes, r.optional) for r in rows]


# -- the parser ------------------------------------------------------------------------------

def test_fixture_pages_are_what_the_builder_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(build_pages, "HERE", tmp_path)
    build_pages.main()
    for page in tmp_path.iterdir():
        assert page.read_text(encoding="utf-8") == fixture(page.name), page.name


def test_kids_app_with_ads_declarations():
    listing = parse_store_listing(fixture("kids_ads.html"), ABC_URL)
    assert (listing.package, listing.title, listing.developer) == (
        "com.tinyfox.abcgames", "ABC Kids Games: Learn & Play", "Tiny Fox Studio Ltd")
    assert (listing.developer_email, listing.developer_website, listing.privacy_policy_url) == (
        "support@tinyfox.example", "https://tinyfox.example/", "https://tinyfox.example/privacy")
    assert (listing.category, listing.category_id) == ("Educational", "GAME_EDUCATIONAL")
    assert [c["id"] for c in listing.categories] == ["GAME_EDUCATIONAL", "FAMILY_PRETEND"]
    assert (listing.contains_ads, listing.in_app_purchases, listing.content_rating) == (
        True, True, "Everyone")
    assert listing.interactive_elements == ["In-Game Purchases", "Users Interact"]
    assert listing.target_ages == ["Ages 5 & Under", "Ages 6-8"]
    assert (listing.teacher_approved, listing.designed_for_families) == (True, True)
    assert listing.problems == []


def test_data_safety_on_the_details_page():
    safety = parse_store_listing(fixture("kids_ads.html"), ABC_URL).data_safety
    assert safety.source_url == ABC_URL and safety.declared
    assert declared(safety.data_shared) == [
        ("Device or other IDs", "Device or other IDs", ["Advertising or marketing", "Analytics"], False),
        ("Location", "Approximate location", ["Advertising or marketing"], False),
    ]
    assert declared(safety.data_collected) == [
        ("App activity", "App interactions", ["Analytics", "App functionality"], False),
        ("Personal info", "Email address",
         ["Account management", "Fraud prevention, security, and compliance"], True),
    ]
    assert (safety.no_data_shared, safety.no_data_collected) == (False, False)
    assert safety.security_practices == ["Data is encrypted in transit",
                                         "You can request that data be deleted",
                                         "Committed to follow the Play Families Policy"]
    assert (safety.encrypted_in_transit, safety.deletion_can_be_requested) == (True, True)


def test_no_data_shared_read_from_the_datasafety_page():
    url = f"{PLAY}/datasafety?id=org.quietpanda.colouring&hl=en"
    page = parse_store_listing(fixture("kids_no_data_shared_datasafety.html"), url)
    safety = page.data_safety
    assert (safety.declared, safety.no_data_shared, safety.data_shared) == (True, True, [])
    assert declared(safety.data_collected) == [
        ("App info and performance", "Crash logs", ["App functionality"], False)]
    assert (safety.encrypted_in_transit, safety.deletion_can_be_requested) == (True, False)
    assert page.privacy_policy_url == "https://quietpanda.example/privacy"


def test_data_safety_page_completes_the_listing():
    listing = parse_store_listing(fixture("kids_no_data_shared.html"), PANDA_URL)
    record = build_pages.app_record(title="Quiet Panda Colouring", developer="Quiet Panda Foundation",
                                    safety=build_pages.data_safety(
                                        shared=[], collected=[],
                                        practices=["Committed to follow the Play Families Policy"]))
    url = f"{PLAY}/datasafety?id=org.quietpanda.colouring&hl=en"
    safety_page = parse_store_listing(build_pages.datasafety_page("org.quietpanda.colouring", record), url)
    merged = with_data_safety(listing, safety_page)
    assert merged.data_safety.source_url == url and merged.problems == []
    assert (merged.data_safety.no_data_shared, merged.data_safety.no_data_collected) == (True, True)
    assert merged.designed_for_families is True and merged.contains_ads is False


def test_details_page_without_data_safety_says_so_and_reads_the_rest():
    listing = parse_store_listing(fixture("kids_no_data_shared.html"), PANDA_URL)
    assert listing.data_safety is None
    assert listing.problems == ["data_safety: not found in the page (see the data-safety page)"]
    assert (listing.contains_ads, listing.in_app_purchases) == (False, False)
    assert listing.target_ages == ["Ages 5 & Under"]
    assert (listing.designed_for_families, listing.developer_website) == (False, None)


def test_badge_words_in_free_text_are_not_badges():
    # The description says "Teacher approved." and a review "Teacher Approved indeed!".
    assert parse_store_listing(fixture("kids_no_data_shared.html"), PANDA_URL).teacher_approved is False
    record = build_pages.app_record(title="Teacher Approved", developer="Some Dev",
                                    description="Teacher Approved")
    html = build_pages.details_page("com.some.dev", record)
    listing = parse_store_listing(html, f"{PLAY}/details?id=com.some.dev")
    assert (listing.title, listing.teacher_approved, listing.target_ages) == (
        "Teacher Approved", False, [])


def test_sparse_listing_lists_what_could_not_be_read():
    listing = parse_store_listing(fixture("sparse.html"), f"{PLAY}/details?id=com.barebones.kids")
    assert (listing.title, listing.developer, listing.privacy_policy_url) == (
        "Bare Bones Kids", "Bare Bones Apps", None)
    assert [p.split(":")[0] for p in listing.problems] == [
        "developer_email", "privacy_policy_url", "category", "content_rating", "data_safety"]


def test_package_from_the_page_when_the_url_has_none():
    listing = parse_store_listing(fixture("kids_ads.html"), "https://mirror.example/abc")
    assert listing.package == "com.tinyfox.abcgames"


def test_app_record_found_when_its_block_number_moves():
    # Google has moved the record before (ds:4 in 2022, ds:5 since).
    html = fixture("kids_ads.html").replace("key: 'ds:5'", "key: 'ds:4'")
    assert parse_store_listing(html, ABC_URL).title == "ABC Kids Games: Learn & Play"


@pytest.mark.parametrize("page, reason", [
    ("changed_shape.html", "page changed shape: no app record (title, developer) in any "
                           "AF_initDataCallback block (ds:0, ds:5, ds:8)"),
    ("not_found.html", "not a store listing: no AF_initDataCallback data in the page"),
])
def test_unreadable_pages_raise_a_one_line_error_naming_the_url(page, reason):
    with pytest.raises(StoreListingError) as error:
        parse_store_listing(fixture(page), ABC_URL)
    assert error.value.reason == reason
    assert str(error.value) == f"{ABC_URL}: {reason}" and "\n" not in str(error.value)


def test_callback_blocks_in_another_serialisation_are_a_changed_shape():
    html = fixture("kids_ads.html").replace(", sideChannel: {}});", "});")
    with pytest.raises(StoreListingError, match="none readable"):
        parse_store_listing(html, ABC_URL)


def test_a_broken_block_does_not_hide_the_app_record():
    html = fixture("kids_ads.html").replace("data:[[null, [\"en\"", "data:[[undefined, [\"en\"")
    assert "undefined" in html
    assert parse_store_listing(html, ABC_URL).developer == "Tiny Fox Studio Ltd"


def test_datasafety_url_keeps_host_and_language():
    assert datasafety_url("http://127.0.0.1:8080/store/apps/details?id=a.b&hl=th&gl=TH", "a.b") == (
        "http://127.0.0.1:8080/store/apps/datasafety?id=a.b&hl=th")


# -- the spider on in-memory responses ---------------------------------------------------------

def target(target_id="abc", **android):
    return Target(id=target_id, name=target_id, audience="child-directed",
                  homepage="https://example.org/", android=AndroidApp(**android) if android else None)


def response(url, body, meta, status=200):
    request = Request(url, meta=meta)
    return HtmlResponse(url, body=body.encode("utf-8"), status=status, request=request,
                        headers={"Content-Type": "text/html; charset=utf-8"})


def test_the_spider_asks_for_each_app_s_listing_and_skips_web_only_targets():
    spider = StoreSpider(targets=[target("a", package="a.b"), target("web"),
                                  target("c", package="c.d", store_url="http://x/y")])

    async def requests():
        return [request async for request in spider.start()]

    asked = asyncio.run(requests())
    assert [r.url for r in asked] == [f"{PLAY}/details?id=a.b&hl=en&gl=US", "http://x/y"]
    assert [(r.meta["target"].id, r.meta["package"]) for r in asked] == [("a", "a.b"), ("c", "c.d")]


def test_spider_item_for_a_listing_with_data_safety():
    spider = StoreSpider(targets=[target(package="com.tinyfox.abcgames")])
    page = fixture("kids_ads.html")
    [item] = list(spider.parse_listing(response(
        ABC_URL, page, {"target": spider.targets[0], "package": "com.tinyfox.abcgames"})))
    assert (item.target_id, item.url, item.final_url, item.status, item.error) == (
        "abc", ABC_URL, ABC_URL, 200, None)
    assert item.privacy_policy_url == "https://tinyfox.example/privacy"
    assert item.listing["data_safety"]["data_shared"][0]["data_type"] == "Device or other IDs"
    assert item.listing["contains_ads"] is True and item.datasafety_url is None
    assert len(item.body_sha256) == 64 and item.fetched_at


def test_spider_fetches_the_datasafety_page_when_the_listing_lacks_it():
    spider = StoreSpider(targets=[target("panda", package="org.quietpanda.colouring")])
    meta = {"target": spider.targets[0], "package": "org.quietpanda.colouring"}
    [request] = list(spider.parse_listing(response(PANDA_URL, fixture("kids_no_data_shared.html"), meta)))
    assert request.url == f"{PLAY}/datasafety?id=org.quietpanda.colouring&hl=en"
    [item] = list(spider.parse_datasafety(response(
        request.url, fixture("kids_no_data_shared_datasafety.html"), request.meta)))
    assert item.listing["data_safety"]["no_data_shared"] is True
    assert item.listing["data_safety"]["source_url"] == request.url
    assert item.listing["title"] == "Quiet Panda Colouring" and item.listing["problems"] == []
    assert (item.url, item.datasafety_url, item.error) == (PANDA_URL, request.url, None)


def test_spider_records_a_missing_or_reshaped_listing():
    spider = StoreSpider(targets=[target(package="com.gone.app")])
    meta = {"target": spider.targets[0], "package": "com.gone.app"}
    [gone] = list(spider.parse_listing(response(ABC_URL, fixture("not_found.html"), meta, status=404)))
    assert (gone.status, gone.listing, gone.error) == (
        404, None, f"{ABC_URL}: HTTP 404, no store listing there")
    [reshaped] = list(spider.parse_listing(response(ABC_URL, fixture("changed_shape.html"), meta)))
    assert reshaped.listing is None and reshaped.error.startswith(f"{ABC_URL}: page changed shape")
    binary = Response(ABC_URL, body=b"\x00\x01", request=Request(ABC_URL, meta=meta))
    [odd] = list(spider.parse_listing(binary))
    assert odd.error == f"{ABC_URL}: not a store listing: no AF_initDataCallback data in the page"


# -- the spider in a crawl of loopback pages ---------------------------------------------------

CRAWL = textwrap.dedent("""
    import json, sys
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings
    from scanner.targets import Target
    from spiders.store import StoreSpider

    targets_file, out = sys.argv[1], sys.argv[2]
    targets = [Target(**t) for t in json.load(open(targets_file))]
    settings = get_project_settings()
    for name, value in {"ITEM_PIPELINES": {}, "EXTENSIONS": {}, "DOWNLOAD_DELAY": 0,
                        "SCANNER_ALLOW_PRIVATE": True, "LOG_LEVEL": "WARNING",
                        "FEEDS": {out: {"format": "jsonlines"}}}.items():
        settings.set(name, value, priority="cmdline")
    process = CrawlerProcess(settings)
    process.crawl(StoreSpider, targets=targets)
    process.start()
""")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """One crawl of the store spider over two loopback 'stores'; {target id: item}, sites."""
    details, safety = "/store/apps/details?id={}&hl=en&gl=US", "/store/apps/datasafety?id={}&hl=en"
    play = LoopbackSite({
        "/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nAllow: /\n"),
        details.format("com.tinyfox.abcgames"): fixture("kids_ads.html"),
        details.format("org.quietpanda.colouring"): fixture("kids_no_data_shared.html"),
        safety.format("org.quietpanda.colouring"): fixture("kids_no_data_shared_datasafety.html"),
        details.format("com.kidsmaze"): fixture("changed_shape.html"),
        details.format("com.gone.app"): (404, {}, fixture("not_found.html")),
    })
    # A store whose robots.txt keeps crawlers off the data-safety page.
    strict = LoopbackSite({
        "/robots.txt": (200, {"Content-Type": "text/plain"},
                        "User-agent: *\nDisallow: /store/apps/datasafety\n"),
        details.format("org.quietpanda.colouring"): fixture("kids_no_data_shared.html"),
        safety.format("org.quietpanda.colouring"): fixture("kids_no_data_shared_datasafety.html"),
    })
    tmp = tmp_path_factory.mktemp("store")

    def entry(target_id, package, store=play, store_url=True):
        android = {"package": package}
        if store_url:
            android["store_url"] = store.url + details.format(package)
        return {"id": target_id, "name": target_id, "audience": "child-directed",
                "homepage": "https://example.org/", "android": android}

    targets = [entry("abc", "com.tinyfox.abcgames"), entry("panda", "org.quietpanda.colouring"),
               entry("maze", "com.kidsmaze"), entry("gone", "com.gone.app"),
               entry("strict", "org.quietpanda.colouring", store=strict),
               entry("real-play", "com.real.kids", store_url=False),
               {"id": "web-only", "name": "Web", "audience": "general", "homepage": "https://example.org/"}]
    (tmp / "targets.json").write_text(json.dumps(targets), encoding="utf-8")
    out = tmp / "items.jsonl"
    result = subprocess.run([sys.executable, "-c", CRAWL, str(tmp / "targets.json"), str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=subprocess_env())
    play.close()
    strict.close()
    assert result.returncode == 0, result.stderr[-3000:]
    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return {item["target_id"]: item for item in items}, play, strict, items


@pytest.mark.crawl
def test_crawl_yields_one_item_per_app_and_none_for_web_only_targets(crawled):
    by_target, _, _, items = crawled
    assert sorted(i["target_id"] for i in items) == ["abc", "gone", "maze", "panda", "real-play", "strict"]


@pytest.mark.crawl
def test_crawl_reads_listings_and_fetches_datasafety_only_when_needed(crawled):
    by_target, play, _, _ = crawled
    abc, panda = by_target["abc"], by_target["panda"]
    assert (abc["status"], abc["error"], abc["datasafety_url"]) == (200, None, None)
    assert abc["privacy_policy_url"] == "https://tinyfox.example/privacy"
    assert abc["listing"]["teacher_approved"] is True and abc["listing"]["contains_ads"] is True
    assert panda["datasafety_url"] == play.url + "/store/apps/datasafety?id=org.quietpanda.colouring&hl=en"
    assert panda["listing"]["data_safety"]["no_data_shared"] is True
    assert panda["listing"]["problems"] == []
    assert sum("datasafety" in path for path in play.requests) == 1


@pytest.mark.crawl
def test_crawl_records_missing_and_changed_pages(crawled):
    by_target, play, _, _ = crawled
    assert (by_target["gone"]["status"], by_target["gone"]["listing"]) == (404, None)
    assert by_target["gone"]["error"].endswith("HTTP 404, no store listing there")
    assert by_target["maze"]["status"] == 200 and by_target["maze"]["listing"] is None
    assert "page changed shape" in by_target["maze"]["error"]


@pytest.mark.crawl
def test_crawl_obeys_robots_txt_for_the_datasafety_page(crawled):
    by_target, play, strict, _ = crawled
    assert play.requests[0] == strict.requests[0] == "/robots.txt"
    item = by_target["strict"]
    assert item["error"] is None and item["listing"]["title"] == "Quiet Panda Colouring"
    assert item["listing"]["data_safety"] is None
    [problem] = item["listing"]["problems"]
    assert problem.startswith("data_safety: not on the listing") and "robots.txt" in problem
    assert not any("datasafety" in path for path in strict.requests)


@pytest.mark.crawl
def test_crawl_refuses_the_real_store_before_any_connection(crawled):
    by_target, _, _, _ = crawled
    item = by_target["real-play"]
    assert item["url"] == f"{PLAY}/details?id=com.real.kids&hl=en&gl=US"
    assert item["status"] is None and item["listing"] is None
    assert "play.google.com: not a loopback address" in item["error"]
