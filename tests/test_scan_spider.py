"""The scan spider (spiders/scan.py): the policy and site jobs in one crawler. In memory, what is
merged into one request and how each job sees its answer, its failure and its cookies; in a
scan, each homepage, linked policy and robots.txt reach the server once while both jobs record
them, and each job sends only the cookies it would have had in a crawler of its own."""

import json
import subprocess
import sys
import threading
import time

import pytest
import sqlite_utils
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse, Response
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from helpers import ROOT, LoopbackSite, run_cli, subprocess_env, write_targets
from scanner.items import FetchItem
from scanner.targets import Target
from spiders.base import DOWNLOAD
from spiders.scan import ALSO_JARS, JOBS, POLICY_JAR, JobCookiesMiddleware, ScanSpider

HOME = """<!doctype html><html><head><title>Kids Club</title></head><body>
<script src="https://www.google-analytics.com/analytics.js"></script>
<a href="/about.html">About</a> <footer><a href="/privacy">Privacy Policy</a></footer>
</body></html>"""
POLICY = """<!doctype html><html><head><title>Privacy Policy</title></head><body><main>
<h1>Privacy Policy</h1><p>We collect your email address when you contact us.</p>
<p>We do not sell your personal information.</p></main></body></html>"""
URL = "http://127.0.0.1:9/"


def spider(**targets_kwargs):
    target = Target(id="kids-club", name="Kids Club", audience="child-directed", homepage=URL,
                    **targets_kwargs)
    crawler = get_crawler(ScanSpider, {"SCANNER_MAX_PAGES": 5, "SCANNER_MAX_POLICY_PAGES": 3})
    return ScanSpider.from_crawler(crawler, targets=[target]), target


def answer(request, body, url=None, headers=None):
    request.meta[DOWNLOAD] = {"url": url or request.url, "received_at": "2026-12-02T10:00:00.000",
                              "sent_at": "2026-12-02T09:59:59.900", "headers": {}}
    return HtmlResponse(url or request.url, body=body.encode(), encoding="utf-8",
                        request=request, headers=headers)


def test_the_homepage_both_jobs_ask_for_is_one_request_serving_each():
    scan, target = spider()
    [homepage] = list(scan.merged([*scan.policy_start(target), *scan.site_start(target)]))
    assert homepage.url == URL and homepage.meta["target"] is target
    jobs = homepage.meta[JOBS]
    assert [(meta["discovered_by"], meta.get("cookiejar")) for _, _, meta in jobs] == [
        ("homepage", POLICY_JAR), ("homepage", None)]
    assert [callback.__name__ for callback, _, _ in jobs] == ["parse_homepage", "parse_page"]
    # Sent with the site job's jar; its answer's cookies go to the policy job's jar too.
    assert "cookiejar" not in homepage.meta and homepage.meta[ALSO_JARS] == [POLICY_JAR]


def test_targets_file_policy_urls_stay_the_policy_jobs_own_requests():
    scan, target = spider(policy_urls=[URL + "privacy"])
    requests = list(scan.merged([*scan.policy_start(target), *scan.site_start(target)]))
    assert [(r.url, r.meta.get("cookiejar"), JOBS in r.meta) for r in requests] == [
        (URL + "privacy", POLICY_JAR, False), (URL, None, False)]
    assert requests[0].meta["discovered_by"] == "targets-file"


def test_each_job_parses_the_answer_with_its_own_meta_and_their_next_requests_merge():
    scan, _ = spider()
    [homepage] = list(scan.merged([*scan.policy_start(scan.targets[0]),
                                   *scan.site_start(scan.targets[0])]))
    outputs = list(homepage.callback(answer(homepage, HOME)))
    items = [o for o in outputs if isinstance(o, FetchItem)]
    assert [(i.kind, i.discovered_by, i.url) for i in items] == [
        ("page", "homepage", URL), ("page", "homepage", URL)]
    # Both records carry the one download's times and the homepage's body (evidence).
    assert {i.response_received_at for i in items} == {"2026-12-02T10:00:00.000"}
    assert all(i.raw_body for i in items)
    assert [i.resources for i in items][1] == [("https://www.google-analytics.com/analytics.js",
                                                "script")]
    requests = {r.url: r for r in outputs if isinstance(r, Request)}
    assert set(requests) == {URL + "privacy", URL + "about.html"}
    policy = requests[URL + "privacy"]  # the policy job's footer link and the site job's link
    assert [meta["discovered_by"] for _, _, meta in policy.meta[JOBS]] == ["footer-link", "link"]
    about = requests[URL + "about.html"]  # the site job's alone
    assert JOBS not in about.meta and "cookiejar" not in about.meta
    assert about.meta["discovered_by"] == "link"

    outputs = list(policy.callback(answer(policy, POLICY)))
    items = [o for o in outputs if isinstance(o, FetchItem)]
    assert [(i.kind, i.discovered_by, i.text) for i in items] == [
        ("policy", "footer-link", None), ("page", "link", None)]
    # The policy job sends the page's bytes: the writer extracts its text (store_writer).
    assert items[0].policy_body == POLICY.encode() and items[1].policy_body is None


def test_a_redirected_answer_keeps_its_first_url_for_each_job():
    scan, _ = spider()
    [homepage] = list(scan.merged([*scan.policy_start(scan.targets[0]),
                                   *scan.site_start(scan.targets[0])]))
    redirected = homepage.replace(url=URL + "home", meta={**homepage.meta, "redirect_urls": [URL]})
    items = [o for o in redirected.callback(answer(redirected, HOME))
             if isinstance(o, FetchItem)]
    assert [(i.url, i.final_url) for i in items] == [(URL, URL + "home")] * 2


def test_a_failure_goes_to_each_jobs_errback_with_its_own_meta():
    scan, _ = spider()
    [homepage] = list(scan.merged([*scan.policy_start(scan.targets[0]),
                                   *scan.site_start(scan.targets[0])]))
    failure = Failure(ConnectionRefusedError("Connection was refused"))
    failure.request = homepage
    items = list(homepage.errback(failure))
    assert [(i.kind, i.discovered_by, i.status) for i in items] == [
        ("page", "homepage", None), ("page", "homepage", None)]
    assert all("ConnectionRefusedError" in i.error for i in items)
    assert failure.request is homepage


def test_a_job_whose_callback_fails_leaves_the_other_jobs_outputs():
    scan, target = spider()
    item = FetchItem(target_id=target.id, url=URL, kind="page")

    def broken(response):
        yield FetchItem(target_id=target.id, url=URL, kind="page", discovered_by="broken")
        raise ValueError("bad page")

    def fine(response):
        yield item

    request = Request(URL, callback=scan.parse_jobs, meta={
        "target": target, JOBS: [(broken, None, {"target": target}), (fine, None, {"target": target})]})
    outputs = []
    with pytest.raises(ValueError, match="bad page"):
        for output in request.callback(HtmlResponse(URL, body=b"<html></html>", request=request)):
            outputs.append(output)
    # What the failing job yielded before its error stands too, as in a crawler of its own.
    assert [o.discovered_by for o in outputs] == ["broken", None] and outputs[1] is item


def test_only_different_jobs_asking_for_the_same_thing_are_merged():
    scan, target = spider()
    site = scan.page_request(target, URL + "a", "link")
    policy = scan.policy_request(target, URL + "a", "footer-link")
    again = scan.page_request(target, URL + "b", "link")
    same_job = Request(URL + "b", meta={"target": target})
    other_method = scan.policy_request(target, URL + "b", "footer-link").replace(method="POST")
    browser = Request(URL + "a", meta={"target": target, "playwright": True})
    outputs = list(scan.merged([site, policy, again, same_job, other_method, browser]))
    assert len(outputs) == 5 and outputs[1:] == [again, same_job, other_method, browser]
    assert [meta["discovered_by"] for _, _, meta in outputs[0].meta[JOBS]] == ["link", "footer-link"]


def cookie_response(request, cookie):
    return Response(request.url, headers={"Set-Cookie": cookie}, request=request)


def test_each_job_has_its_own_cookie_jar_and_shared_answers_fill_both():
    scan, target = spider()
    middleware = JobCookiesMiddleware()
    [homepage] = list(scan.merged([*scan.policy_start(target), *scan.site_start(target)]))
    robots = Request(URL + "robots.txt", meta={"dont_obey_robotstxt": True})
    site_only = scan.page_request(target, URL + "about.html", "link")
    policy_only = scan.policy_request(target, URL + "privacy", "common-path")
    for request, cookie in ((robots, "r=1"), (homepage, "home=1"), (site_only, "about=1"),
                            (policy_only, "policy=1")):
        middleware.process_request(request)
        middleware.process_response(request, cookie_response(request, cookie))

    def sent(request):
        request = request.replace(url=URL + "next")
        request.headers.pop("Cookie", None)
        middleware.process_request(request)
        return sorted((request.headers.get("Cookie") or b"").decode().split("; "))

    assert sent(site_only) == ["about=1", "home=1", "r=1"]
    assert sent(policy_only) == ["home=1", "policy=1", "r=1"]
    assert sent(homepage) == ["about=1", "home=1", "r=1"]  # a shared request: the site job's


def test_the_scan_spider_swaps_in_its_cookies_middleware():
    project = get_project_settings()
    crawler = Crawler(ScanSpider, project)
    # As CrawlerProcess.crawl(crawler) does: the project's settings merged in once more.
    crawler.settings.update(project)
    middlewares = crawler.settings.getdict("DOWNLOADER_MIDDLEWARES")
    assert middlewares["spiders.scan.JobCookiesMiddleware"] == 700
    assert middlewares["scrapy.downloadermiddlewares.cookies.CookiesMiddleware"] is None
    assert middlewares["scanner.safety.AddressGuardMiddleware"] == 50


def scan_kids_club(site, tmp_path):
    """Scan the one target served by `site` (then closed); the database's path."""
    targets = write_targets(tmp_path / "targets.yaml", {
        "id": "kids-club", "name": "Kids Club", "audience": "child-directed",
        "homepage": site.url + "/"})
    db_path = tmp_path / "results.db"
    try:
        run_cli("scan", targets, "--db", db_path, "--allow-private", "--max-pages", 5, check=False)
    finally:
        site.close()
    return db_path


@pytest.mark.crawl
def test_in_a_scan_each_homepage_policy_and_robots_txt_is_fetched_once_for_both_jobs(tmp_path):
    site = LoopbackSite({
        "/": HOME, "/about.html": HOME.replace("Kids Club", "About"), "/privacy": POLICY,
        "/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nAllow: /\n"),
    })
    db_path = scan_kids_club(site, tmp_path)
    assert sorted(site.requests) == ["/", "/about.html", "/privacy", "/robots.txt"]
    db = sqlite_utils.Database(db_path)
    rows = list(db.query("SELECT url, kind, discovered_by, status, request_sent_at, "
                         "response_received_at, response_headers FROM fetches ORDER BY url, kind"))
    assert [(r["url"][len(site.url):], r["kind"], r["discovered_by"]) for r in rows] == [
        ("/", "page", "homepage"), ("/", "page", "homepage"), ("/about.html", "page", "link"),
        ("/privacy", "page", "link"), ("/privacy", "policy", "footer-link")]
    assert all(r["status"] == 200 and r["response_headers"] for r in rows)
    for url in ("/", "/privacy"):  # one download each: both records carry its times
        times = {(r["request_sent_at"], r["response_received_at"]) for r in rows
                 if r["url"] == site.url + url}
        assert len(times) == 1 and all(next(iter(times)))
    assert db.execute("SELECT status FROM scan_targets").fetchall() == [("done",)]


@pytest.mark.crawl
def test_in_a_scan_each_job_sends_the_cookies_it_was_given(tmp_path):
    """The homepage's and robots.txt's cookies reach both jobs; a cookie of a page only the site
    job reads is not sent with the policy job's later requests, as with a crawler of its own."""
    about_served = threading.Event()

    def about():
        about_served.set()
        return (200, {"Set-Cookie": "about=1; Path=/"},
                "<html><body><a href='/games.html'>Games</a></body></html>")

    def first_guess():  # the policy job's first guessed path: answered after /about.html
        about_served.wait(10)
        time.sleep(0.3)
        return None  # 404: the next path is tried

    site = LoopbackSite({
        "/": (200, {"Set-Cookie": "home=1; Path=/"},
              "<html><body><a href='/about.html'>About us</a></body></html>"),
        "/about.html": about, "/games.html": "<html><body>Games</body></html>",
        "/privacy": first_guess, "/privacy-policy": POLICY,
        "/robots.txt": (200, {"Content-Type": "text/plain", "Set-Cookie": "r=1; Path=/"},
                        "User-agent: *\nAllow: /\n"),
    })
    db_path = scan_kids_club(site, tmp_path)
    sent = {}
    for row in sqlite_utils.Database(db_path).query(
            "SELECT url, kind, request_headers FROM fetches"):
        cookie = json.loads(row["request_headers"]).get("Cookie", [""])[0]
        sent[(row["url"][len(site.url):], row["kind"])] = sorted(filter(None, cookie.split("; ")))
    assert sent[("/games.html", "page")] == ["about=1", "home=1", "r=1"]
    assert sent[("/privacy-policy", "policy")] == ["home=1", "r=1"]
    assert sent[("/", "page")] == ["r=1"]
    assert site.requests.count("/robots.txt") == 1 and site.requests.count("/") == 1


# Crawls the targets given as JSON on stdin with the scan spider (no pipeline: nothing stored),
# SCANNER_TARGETS_IN_FLIGHT from argv; prints the most targets in flight when a request was
# scheduled, and the order the targets finished in.
IN_FLIGHT_DRIVER = """
import json, sys
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scanner.crawl import crawl_settings
from scanner.options import ScanOptions
from scanner.targets import Target
from spiders.base import target_finished
from spiders.scan import ScanSpider

targets = [Target(**t) for t in json.loads(sys.stdin.read())]
settings = crawl_settings(":memory:", 1, ScanOptions(allow_private=True, loopback_only=True),
                          fast=True)
settings.set("ITEM_PIPELINES", {})
settings.set("EXTENSIONS", {})
settings.set("SCANNER_TARGETS_IN_FLIGHT", int(sys.argv[1]))
process = CrawlerProcess(settings)
crawler = process.create_crawler(ScanSpider)
seen = {"most": 0, "finished": []}

def scheduled(request, spider):
    seen["most"] = max(seen["most"], spider.target_tracker.in_flight())

def finished(spider, target_id, started=None):
    seen["finished"].append(target_id)

crawler.signals.connect(scheduled, signal=signals.request_scheduled)
crawler.signals.connect(finished, signal=target_finished)
process.crawl(crawler, targets=targets)
process.start()
print(json.dumps(seen))
"""


def crawl_in_flight(site, count: int, limit: int) -> dict:
    targets = [{"id": f"t{i}", "name": f"t{i}", "audience": "child-directed",
                "homepage": f"{site.url}/t{i}/"} for i in range(count)]
    result = subprocess.run([sys.executable, "-c", IN_FLIGHT_DRIVER, str(limit)],
                            input=json.dumps(targets), capture_output=True, text=True,
                            cwd=ROOT, env=subprocess_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.crawl
def test_the_scan_spider_crawls_at_most_its_targets_in_flight_and_finishes_them_as_it_goes():
    def slow_home(i):
        def home():
            time.sleep(0.2)  # every homepage is asked for before one answers, unless held back
            return (f"<html><body><a href='/t{i}/a'>A</a>"
                    f"<footer><a href='/t{i}/privacy'>Privacy Policy</a></footer></body></html>")
        return home

    pages = {"/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nAllow: /\n")}
    for i in range(6):
        pages.update({f"/t{i}/": slow_home(i), f"/t{i}/a": "<html><body>A</body></html>",
                      f"/t{i}/privacy": POLICY})
    site = LoopbackSite(pages)
    try:
        held = crawl_in_flight(site, 6, 2)
        free = crawl_in_flight(site, 6, 0)
    finally:
        site.close()
    assert held["most"] == 2 and free["most"] == 6
    assert sorted(held["finished"]) == sorted(free["finished"]) == [f"t{i}" for i in range(6)]
    # held back, the first targets are done before the last ones start: in the targets' order
    assert held["finished"][:2] == ["t0", "t1"]
