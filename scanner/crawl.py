"""Run one scan: open the scan row, crawl with both spiders in one Scrapy process, analyse."""

from __future__ import annotations

from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings

from scanner import store
from scanner.matching import rules_version
from scanner.postprocess import finish_scan_analysis


def crawl_settings(db_path: str, scan_id: int, *, allow_private: bool, max_pages: int,
                   browser: bool, fast: bool, log_level: str, ignore_robots: bool = False,
                   loopback_only: bool = False):
    import os

    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "scanner.settings")
    settings = get_project_settings()
    settings.set("SCANNER_DB", str(db_path))
    settings.set("SCANNER_SCAN_ID", scan_id)
    settings.set("SCANNER_ALLOW_PRIVATE", allow_private)
    settings.set("SCANNER_MAX_PAGES", max_pages)
    settings.set("SCANNER_BROWSER", browser)
    settings.set("LOG_LEVEL", log_level)
    if loopback_only:
        settings.set("SCANNER_LOOPBACK_ONLY", True)
    if ignore_robots:
        settings.set("ROBOTSTXT_OBEY", False)
    if fast:
        # Loopback sites of our own: no politeness delay needed.
        settings.set("DOWNLOAD_DELAY", 0)
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", 8)
        settings.set("DOWNLOAD_TIMEOUT", 10)
        settings.set("RETRY_TIMES", 0)
    # --browser: the browser spider applies scanner.browser.browser_settings() to its own
    # crawler (update_settings), so the policy spider keeps plain HTTP and no second browser.
    return settings


def all_on_loopback(targets) -> bool:
    """True when every URL of every target is on loopback: our own test or demo sites."""
    from scanner.safety import loopback_problem

    return all(loopback_problem(url) is None
               for t in targets for url in [t.homepage, *t.policy_urls])


def run_scan(db_path, targets, targets_file: str, *, allow_private=False, max_pages=5,
             browser=False, log_level="CRITICAL", ignore_robots=False,
             loopback_only=False) -> tuple[int, list[dict]]:
    """Crawl every target once; return the scan id and its scores rows."""
    from spiders.policy import PolicySpider
    from spiders.site import SiteSpider

    page_spider = SiteSpider
    if browser:
        from spiders.browser import BrowserSpider as page_spider

    db = store.open_db(db_path)
    options = {"allow_private": allow_private, "max_pages": max_pages, "browser": browser,
               "ignore_robots": ignore_robots}
    scan_id = store.start_scan(db, rules_version=rules_version(), targets_file=targets_file,
                               options=options)
    store.upsert_targets(db, targets, scan_id)
    settings = crawl_settings(db_path, scan_id, allow_private=allow_private, max_pages=max_pages,
                              browser=browser, fast=allow_private and all_on_loopback(targets),
                              log_level=log_level, ignore_robots=ignore_robots,
                              loopback_only=loopback_only)
    process = CrawlerProcess(settings, install_root_handler=True)
    crawlers = [process.create_crawler(PolicySpider), process.create_crawler(page_spider)]
    for crawler in crawlers:
        process.crawl(crawler, targets=targets)
    status = "complete"
    try:
        process.start()
    except KeyboardInterrupt:
        status = "interrupted"
    reasons = {c.stats.get_value("finish_reason") for c in crawlers}
    if reasons - {"finished"}:
        status = "interrupted"
    scores = finish_scan_analysis(db, scan_id, targets)
    store.finish_scan(db, scan_id, status)
    return scan_id, scores
