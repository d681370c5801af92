"""Scrapy settings for the scanner: polite defaults for real sites (see docs/crawling.md)."""

import os

from scanner import __version__

BOT_NAME = "child-privacy-scanner"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

USER_AGENT = (
    f"child-privacy-scanner/{__version__} (privacy-risk research for child-protection "
    "regulators; +https://github.com/child-privacy-scanner/child-privacy-scanner)"
)
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
RANDOMIZE_DOWNLOAD_DELAY = True
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_TIMES = 1
REDIRECT_MAX_TIMES = 10
COOKIES_ENABLED = True
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"

# Record every response, 4xx and 5xx included: a missing policy page is evidence too.
HTTPERROR_ALLOW_ALL = True

DOWNLOADER_MIDDLEWARES = {
    "scanner.safety.AddressGuardMiddleware": 50,
}
ITEM_PIPELINES = {
    "scanner.pipelines.StorePipeline": 300,
}

# Scanner options (set from the CLI).
SCANNER_ALLOW_PRIVATE = False
# Tests and the demo confine every request to loopback (no DNS, no other host), whatever a page
# links or redirects to: set from the environment so subprocess crawls inherit it.
SCANNER_LOOPBACK_ONLY = os.environ.get("SCANNER_LOOPBACK_ONLY") == "1"
SCANNER_MAX_PAGES = 5          # same-site pages the site spider visits per target
SCANNER_MAX_POLICY_PAGES = 8   # policy documents (split policies, notices) per target
SCANNER_DB = "results.db"
