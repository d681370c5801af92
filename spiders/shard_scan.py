"""The Scrapyd job of a distributed scan: `scanner scan --shard I/N` of a registry on this node.

Scrapyd runs spiders, and a scan is several crawls (worker processes, each with its own reactor)
plus the analysis, so this spider crawls nothing itself: it runs the scan as a child process from
the same egg, waits for it, and leaves the shard database where `scanner dispatch` fetches it.
The thin wrapper is in scanner/scrapyd_job.py.
"""

from __future__ import annotations

import scrapy
from scrapy import signals

from scanner.scrapyd_job import ShardJob


class ShardScanSpider(scrapy.Spider):
    name = "shard_scan"
    # The scan runs in its own process and owns its database: no scan of this process's own.
    custom_settings = {"EXTENSIONS": {"scanner.extensions.ScanLifecycle": None},
                       "ITEM_PIPELINES": {}}

    def __init__(self, *args, shard="", registry="", registry_b64="", options="{}", out_dir="",
                 _job="", **kwargs):
        super().__init__(*args, **kwargs)
        self.job_args = {"shard": shard, "registry": registry, "registry_b64": registry_b64,
                         "options": options, "out_dir": out_dir, "job_id": _job}
        self.job: ShardJob | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.stop_scan, signal=signals.spider_closed)
        return spider

    async def start(self):
        self.job = ShardJob.from_args(log_file=self.settings.get("LOG_FILE"), **self.job_args)
        code = await self.job.run(self.logger)
        self.crawler.stats.set_value("shard_scan/exit_code", code)
        return
        yield  # an async generator that yields no request: the scan is the child process

    def stop_scan(self, spider, reason):
        """Scrapyd's cancel.json stops this process: the scan stops with it (interrupted)."""
        if self.job is not None:
            self.job.stop()
