"""The scan spider: the policy spider's job and the site spider's in one crawler, the crawl of
`scanner scan` without `--browser` (one engine, scheduler and robots.txt per host instead of two).

Each job runs as in its own spider (spiders/policy.py, spiders/site.py) and records its fetches
as it did there. What both jobs ask for in one go (each homepage; a page the homepage links to
that is also a policy or a legal page; what both then find on such a page) is one request: its
answer is handed to each job's callback (or each errback its failure) with the job's own request
meta, and what they ask for next is merged the same way. A page the jobs reach at different
moments is fetched by each, as when each job had a crawler. Each job keeps its own cookie jar, as
it did with a crawler of its own (`JobCookiesMiddleware`): a request serving both carries the
site job's cookies and its answer sets cookies in both jars, as does the answer to robots.txt.
"""

from __future__ import annotations

import scrapy
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from scrapy.settings import SETTINGS_PRIORITIES

from spiders.policy import PolicySpider
from spiders.site import SiteSpider

# The policy job's cookie jar (Scrapy's `cookiejar` request meta); the site job's is the default.
POLICY_JAR = "policy"
# Request meta of a request serving several jobs: [(callback, errback, meta)] of each job.
JOBS = "scanner_jobs"
# Request meta: the other cookie jars the answer's cookies are set in.
ALSO_JARS = "scanner_also_jars"
# The request meta a job's callback sees: the merged request's, but not these.
_MERGED_ONLY = (JOBS, ALSO_JARS, "cookiejar")


class JobCookiesMiddleware(CookiesMiddleware):
    """Scrapy's cookies middleware, the answer's cookies also set in the jars a request names in
    ALSO_JARS; the answer to a request of no target (robots.txt) sets them in the policy jar
    too, as each crawler's own robots.txt did."""

    def process_response(self, request, response):
        response = super().process_response(request, response)
        if request.meta.get("dont_merge_cookies", False):
            return response
        also = request.meta.get(ALSO_JARS, () if "target" in request.meta else (POLICY_JAR,))
        for key in also:
            jar = self.jars[key]
            self._process_cookies(jar.make_cookies(response, request), jar=jar, request=request)
        return response


class ScanSpider(PolicySpider, SiteSpider):
    name = "scan"

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)
        middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
        middlewares.update({"scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
                            f"{__name__}.JobCookiesMiddleware": 700})
        # At least "spider" priority: the runner's project settings are merged in again when the
        # crawl starts (CrawlerProcess.crawl), replacing what is set at theirs.
        settings.set("DOWNLOADER_MIDDLEWARES", middlewares,
                     priority=max(settings.getpriority("DOWNLOADER_MIDDLEWARES") or 0,
                                  SETTINGS_PRIORITIES["spider"]))

    async def start(self):
        # At most SCANNER_TARGETS_IN_FLIGHT targets crawled at once: Scrapy's scheduler prefers
        # a site with nothing downloading, so without a limit every homepage goes first and all
        # targets finish together at the end of the crawl; with one, targets finish all along,
        # and the scan process stores and scores them while the crawl goes on.
        limit = self.settings.getint("SCANNER_TARGETS_IN_FLIGHT")
        for target in self.targets:  # in the targets' order, as TargetTracker expects
            if limit and self.target_tracker is not None:
                await self.target_tracker.room_for(limit)
            for request in self.merged([*self.policy_start(target), *self.site_start(target)]):
                yield request

    def policy_job_request(self, url, callback, errback, meta) -> scrapy.Request:
        return super().policy_job_request(url, callback, errback, {**meta, "cookiejar": POLICY_JAR})

    def merged(self, outputs: list):
        """The outputs of the jobs' callbacks, requests for the same thing (method, URL, body)
        made by different jobs merged into one request serving each."""
        groups: dict[tuple, list[list]] = {}
        placed = []  # (output, its group or None)
        for output in outputs:
            if not isinstance(output, scrapy.Request) or output.meta.get("playwright"):
                placed.append((output, None))
                continue
            same = groups.setdefault((output.method, output.url, output.body), [])
            group = next((g for g in same if all(_job(r) != _job(output) for r in g)), None)
            if group is None:
                group = []
                same.append(group)
                placed.append((output, group))
            group.append(output)
        for output, group in placed:
            if group is None or len(group) == 1:
                yield output
            else:
                yield self._serving_each(group)

    def _serving_each(self, requests: list) -> scrapy.Request:
        """One request in place of the jobs' `requests`: sent with the site job's cookie jar."""
        sender = min(requests, key=lambda r: _job(r) == POLICY_JAR)
        meta = {"target": sender.meta["target"],
                JOBS: [(r.callback, r.errback, r.meta) for r in requests],
                ALSO_JARS: [_job(r) for r in requests if r is not sender]}
        if _job(sender) is not None:
            meta["cookiejar"] = _job(sender)
        return sender.replace(callback=self.parse_jobs, errback=self.jobs_failed, meta=meta)

    def parse_jobs(self, response):
        """Each job's callback on the answer, with its own request meta."""
        request = response.request
        yield from self._each_job(
            (callback, response.replace(request=_job_request(request, meta)))
            for callback, _, meta in request.meta[JOBS])

    def jobs_failed(self, failure):
        """Each job's errback on the failure, its request carrying the job's own meta."""
        request = failure.request

        def each_job():
            try:
                for _, errback, meta in request.meta[JOBS]:
                    if errback is not None:
                        failure.request = _job_request(request, meta)
                        yield errback, failure
            finally:  # before any output is handed on: every errback has run
                failure.request = request

        yield from self._each_job(each_job())

    def _each_job(self, calls):
        """The outputs of each (callback, argument), merged. A callback that raises does not
        take the other jobs' outputs with it (as with a crawler each): its error is raised after
        them, for Scrapy to log as a spider error."""
        outputs, error = [], None
        for callback, argument in calls:
            try:
                for output in callback(argument) or ():
                    outputs.append(output)
            except Exception as exc:
                error = error or exc
        yield from self.merged(outputs)
        if error is not None:
            raise error


def _job(request) -> str | None:
    """The job a request is for, by its cookie jar: the policy job's, or None (the site job's)."""
    return request.meta.get("cookiejar")


def _job_request(request, meta: dict):
    """`request` as the job that made it with `meta` sees it: what the download wrote in the
    merged request's meta (redirects, timings) kept."""
    merged = {k: v for k, v in request.meta.items() if k not in _MERGED_ONLY}
    return request.replace(meta={**merged, **meta})
