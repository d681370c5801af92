"""One download for the crawlers of a worker that ask for the same thing (scanner/shared_downloads.py),
in memory: what is shared and what is not. In a --browser scan the policy and browser crawlers
fetch robots.txt once (tests/test_browser.py); without --browser one crawler does both jobs
(tests/test_scan_spider.py)."""

import asyncio
from types import SimpleNamespace

import pytest
from scrapy.http import HtmlResponse, Request

from scanner.shared_downloads import SHARED_FLAG, SharedDownloads

URL = "http://127.0.0.1:9/"


class Stats:
    def __init__(self):
        self.values = {}

    def inc_value(self, key, count=1):
        self.values[key] = self.values.get(key, 0) + count


def crawler(downloaded_meta=()):
    return SimpleNamespace(stats=Stats(), spider=SimpleNamespace(downloaded_meta=downloaded_meta))


def response(request, body=b"<html>home</html>"):
    return HtmlResponse(request.url, body=body, encoding="utf-8", request=request)


def connected(*crawlers, **kwargs):
    shared = SharedDownloads(**kwargs)
    for c in crawlers:
        shared.connect(c)
    return shared


def test_a_waiting_crawler_gets_a_copy_of_the_answer_with_its_own_request_and_timings():
    async def scenario():
        site, policy = crawler(("timing",)), crawler(("timing",))
        shared = connected(site, policy)
        first = Request(URL, meta={"target": "a"})
        assert await shared.answer(first, site) is None  # downloaded by the site crawler
        second = Request(URL, meta={"target": "a", "discovered_by": "homepage"})
        waiting = asyncio.ensure_future(shared.answer(second, policy))
        await asyncio.sleep(0)
        assert not waiting.done()  # waits for the download in flight, sends nothing itself
        first.meta.update(download_latency=0.25, timing={"sent": 1})
        original = response(first)
        shared.downloaded(first, original, site)
        answer = await waiting
        assert answer is not original and answer.body == original.body
        assert answer.request is second and SHARED_FLAG in answer.flags
        assert second.meta["download_latency"] == 0.25 and second.meta["timing"] == {"sent": 1}
        assert second.meta["discovered_by"] == "homepage"
        assert policy.stats.values == {"shared_downloads/served": 1}
        assert shared.answers == {}  # every other crawler had it: nothing kept

    asyncio.run(scenario())


def test_a_kept_answer_is_served_to_each_other_crawler_once_and_never_to_its_own():
    async def scenario():
        site, policy = crawler(), crawler()
        shared = connected(site, policy)
        first = Request(URL)
        assert await shared.answer(first, site) is None
        shared.downloaded(first, response(first), site)
        again = Request(URL)
        assert await shared.answer(again, site) is None  # its own answer: fetched again
        shared.failed(again, ConnectionError("refused"))
        assert (await shared.answer(Request(URL), policy)).body == b"<html>home</html>"
        assert await shared.answer(Request(URL), policy) is None  # once per crawler

    asyncio.run(scenario())


def test_a_failed_download_is_not_shared_the_waiter_downloads_for_itself():
    async def scenario():
        site, policy = crawler(), crawler()
        shared = connected(site, policy)
        first = Request(URL)
        assert await shared.answer(first, site) is None
        second = Request(URL)
        waiting = asyncio.ensure_future(shared.answer(second, policy))
        await asyncio.sleep(0)
        shared.failed(first, TimeoutError("timed out"))
        assert await waiting is None
        assert shared.in_flight[SharedDownloads.key(second)][0] is second  # now its download
        assert policy.stats.values == {}

    asyncio.run(scenario())


def test_a_closing_crawler_releases_those_waiting_for_its_downloads():
    async def scenario():
        site, policy = crawler(), crawler()
        shared = connected(site, policy)
        assert await shared.answer(Request(URL), site) is None
        waiting = asyncio.ensure_future(shared.answer(Request(URL), policy))
        await asyncio.sleep(0)
        shared.release(site)
        assert await waiting is None

    asyncio.run(scenario())


@pytest.mark.parametrize("other", [
    Request(URL, method="POST"),
    Request(URL, headers={"Cookie": "session=1"}),
    Request(URL, headers={"Referer": "http://127.0.0.1:9/about"}),
    Request(URL + "?page=2"),
])
def test_requests_that_differ_in_method_headers_or_url_are_not_the_same(other):
    assert SharedDownloads.key(Request(URL)) != SharedDownloads.key(other)
    assert SharedDownloads.key(Request(URL)) == SharedDownloads.key(Request(URL))


@pytest.mark.parametrize("meta", [{"playwright": True}, {"dont_cache": True}])
def test_browser_rendered_and_dont_cache_requests_are_never_shared(meta):
    async def scenario():
        site, policy = crawler(), crawler()
        shared = connected(site, policy)
        request = Request(URL, meta=meta)
        assert SharedDownloads.key(request) is None
        assert await shared.answer(request, site) is None
        assert shared.in_flight == {}

    asyncio.run(scenario())


def test_kept_answers_are_bounded_in_bytes_oldest_dropped_first():
    async def scenario():
        site, policy = crawler(), crawler()
        shared = connected(site, policy, max_bytes=25)
        for n in range(3):
            request = Request(f"{URL}p{n}.html")
            assert await shared.answer(request, site) is None
            shared.downloaded(request, response(request, b"x" * 10), site)
        assert [key[1] for key in shared.answers] == [f"{URL}p1.html", f"{URL}p2.html"]
        assert shared.bytes == 20

    asyncio.run(scenario())
