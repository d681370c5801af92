"""Scrapy settings for the scanner: polite defaults for real sites (see docs/crawling.md)."""

from scrapy.settings import default_settings as _scrapy_defaults

from scanner import __version__
from scanner.options import DEFAULT_OPTIONS as _defaults

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
# Scrapy 2.19 starts, in every crawl, an HTTP server on localhost that runs the Python code posted
# to it (for its MCP server) and writes its token to a file in the user's profile: a scan needs
# neither. Off.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"
# Scrapy starts this many tasks for the output of every callback; ours yield one item and a few
# requests, and the default (100) cost about 1 ms of CPU per response (docs/performance.md).
CONCURRENT_ITEMS = 8
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"

# Targets the scan spider crawls at once (spiders/scan.py; 0: no limit). Twice the requests
# in flight: enough sites to keep them busy at two requests per site, a few slow ones included.
SCANNER_TARGETS_IN_FLIGHT = 2 * CONCURRENT_REQUESTS

# Record every response, 4xx and 5xx included: a missing policy page is evidence too.
HTTPERROR_ALLOW_ALL = True

# Every host Scrapy connects to is looked up once and checked (docs/crawling.md, "Address guard").
TWISTED_DNS_RESOLVER = "scanner.resolver.GuardedResolver"
DOWNLOADER_MIDDLEWARES = {
    "scanner.safety.AddressGuardMiddleware": 50,
    # Next to the downloader: a worker's crawlers fetch a page they all ask for once.
    "scanner.shared_downloads.SharedDownloadsMiddleware": 950,
}
ITEM_PIPELINES = {
    "scanner.pipelines.StorePipeline": 300,
}
# A bare `scrapy crawl` opens, analyses and finishes a scan of its own (off when `scanner scan` runs it).
EXTENSIONS = {
    "scanner.extensions.ScanLifecycle": 500,
}
# The telnet console and the remote control are off (above), so they are left out of Scrapy's
# base list: Scrapy imports every extension it lists, also to be told it is off, and every
# key of EXTENSIONS, also one set to None (remote control's aiohttp: ~0.3 s and ~10 MB a worker).
EXTENSIONS_BASE = {
    path: order for path, order in _scrapy_defaults.EXTENSIONS_BASE.items()
    if path not in ("scrapy.extensions.remote_control.RemoteControl",
                    "scrapy.extensions.telnet.TelnetConsole")
}

# Scanner options: a scan sets them from its ScanOptions (scanner/options.py, where each default
# and its meaning live); these are what a bare `scrapy crawl` runs with.
SCANNER_ALLOW_PRIVATE = _defaults.allow_private
# Tests and the demo confine every request to loopback (no DNS, no other host), whatever a page
# links or redirects to; under SCANNER_LOOPBACK_ONLY=1 every spider forces it (spiders/base.py).
SCANNER_LOOPBACK_ONLY = _defaults.loopback_only
SCANNER_MAX_PAGES = _defaults.max_pages
SCANNER_MAX_POLICY_PAGES = _defaults.max_policy_pages
SCANNER_DB = "results.db"
