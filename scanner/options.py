"""The options of one scan, each with its default defined here and nowhere else.

They flow from the command line through `run_scan`, the worker job and the crawl settings into
`scans.options`, from which a resumed scan restores them.
"""

from __future__ import annotations

import dataclasses
import os

# The test suite sets it so that every crawl it starts, however started, stays on loopback.
LOOPBACK_ONLY_ENV = "SCANNER_LOOPBACK_ONLY"

# `--workers auto`, every scan's default (ScanOptions and the command line): one worker process
# per core, at most this many. Two keep a scan of the bench's 2,000 pages within 300 MB
# (docs/performance.md, memory) and crawl on both cores of a 2-core machine while the scan
# process stores and scores.
AUTO_WORKERS_MAX = 2
WORKERS_AUTO = "auto"


def auto_workers() -> int:
    """The worker count `--workers auto` means on this machine: min(AUTO_WORKERS_MAX, cores)."""
    return max(1, min(AUTO_WORKERS_MAX, os.cpu_count() or 1))


# How a run executes rather than what it collects: a resumed scan takes these from the command
# line that resumes it, and everything else from the scan it continues.
RUN_FIELDS = ("workers", "batch_size", "log_level")


@dataclasses.dataclass(frozen=True)
class ScanOptions:
    allow_private: bool = False   # private and loopback addresses allowed (tests, demo, intranet)
    loopback_only: bool = False   # every request confined to loopback, before any DNS lookup
    max_pages: int = 5            # same-site pages the site spider visits per target
    max_policy_pages: int = 8     # policy documents (split policies, notices) per target
    browser: bool = False         # pages loaded in Chromium
    ignore_robots: bool = False   # pages robots.txt disallows are fetched (a regulator's mandate)
    # batches crawled at once, each by a process of its own: by default auto_workers() (what
    # '--workers auto', the command line's default, means), counted when the options are made
    workers: int = dataclasses.field(default_factory=auto_workers)
    batch_size: int = 250         # targets per worker process, at most (crawl.split_batches)
    log_level: str = "CRITICAL"   # Scrapy's log level in the workers
    shard: str = ""               # 'I/N': only the targets of shard I of N (scanner/shard.py)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ScanOptions:
        """Options stored by `to_dict`; keys an older scan lacks take today's defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def resuming(self, stored: dict) -> ScanOptions:
        """The stored options of the scan being resumed, with this run's execution fields;
        loopback confinement asked for now is kept even if the stored scan lacked it."""
        restored = ScanOptions.from_dict(stored)
        return dataclasses.replace(
            restored, loopback_only=restored.loopback_only or self.loopback_only,
            **{name: getattr(self, name) for name in RUN_FIELDS},
        )


DEFAULT_OPTIONS = ScanOptions()


def loopback_forced() -> bool:
    """True when the environment confines every crawl to loopback; the one place it is read."""
    return os.environ.get(LOOPBACK_ONLY_ENV) == "1"
