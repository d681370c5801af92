"""The scan's worker processes (scanner.crawl.WorkerLauncher, worker_main): started ahead of
their jobs, told to go or to leave, importing only what a crawl needs, ending without teardown."""

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import subprocess_env
from scanner.crawl import WorkerLauncher, crawl_settings
from scanner.options import ScanOptions
from scanner.store_writer import FrameReader
from scanner.targets import Target

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=subprocess_env(), timeout=120)


def read_to_end(fd: int) -> list[tuple]:
    """Every message a worker sent on its events pipe, until it closed it."""
    os.set_blocking(fd, True)
    reader, messages = FrameReader(), []
    while chunk := os.read(fd, 1 << 16):
        reader.feed(chunk)
        while (message := reader.next()) is not None:
            messages.append(message)
    os.close(fd)
    return messages


def test_warm_workers_never_given_a_job_exit_cleanly():
    with WorkerLauncher() as launcher:
        launcher.warm(2)
        workers = list(launcher.warm_workers)
        assert all(worker.proc.poll() is None for worker in workers)  # waiting for their jobs
    assert [worker.proc.returncode for worker in workers] == [0, 0]
    assert not Path(launcher.jobs.name).exists()


@pytest.mark.crawl
def test_a_warm_worker_crawls_the_job_it_is_given(loopback_site, tmp_path):
    site = loopback_site({"/": "<html><body><p>Games for children.</p></body></html>"})
    target = Target(id="site", name="Site", audience="child-directed", homepage=site.url + "/")
    job = {"db": str(tmp_path / "unused.db"), "scan_id": 1,
           "options": ScanOptions(allow_private=True, max_pages=1).to_dict(),
           "targets": [dataclasses.asdict(target)]}
    with WorkerLauncher() as launcher:
        launcher.warm(1)
        worker = launcher.start(job)
        assert not launcher.warm_workers  # the warm one took the job
        messages = read_to_end(worker.events_fd)
        assert worker.proc.wait(120) == 0
    assert [m[2] for m in messages if m[0] == "target"] == ["site"]
    assert not (tmp_path / "unused.db").exists()  # the worker sends; it writes nothing itself


def test_a_worker_imports_no_code_it_never_runs():
    # The scan process's analysis and store (sqlite-utils), the policy rules, the browser
    # spider's Playwright and Scrapy's remote control (aiohttp) are not what a plain crawl's
    # worker needs.
    result = run_python("import sys; from scanner.crawl import _warm_up; _warm_up(); "
                        "print(sorted(m for m in ('aiohttp', 'playwright', 'scanner.analysis', "
                        "'scanner.crosscheck', 'scanner.rules_record', 'twisted.conch.telnet', "
                        "'sqlite_utils', 'scanner.store', 'scanner.matching', 'scanner.scoring', "
                        "'scanner.browser') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_scrapy_remote_control_and_telnet_are_off_and_spiders_are_not_listed():
    settings = crawl_settings(":memory:", 1, ScanOptions(), fast=False)
    extensions = settings.getwithbase("EXTENSIONS")
    assert not settings.getbool("REMOTE_CONTROL_ENABLED")
    assert "scrapy.extensions.remote_control.RemoteControl" not in extensions
    assert "scrapy.extensions.telnet.TelnetConsole" not in extensions
    assert "scrapy.extensions.corestats.CoreStats" in extensions  # the rest of the base kept
    assert settings.getlist("SPIDER_MODULES") == []


def test_a_worker_ends_without_teardown_but_runs_its_exit_handlers():
    started = time.monotonic()
    result = run_python("import atexit; atexit.register(lambda: print('exit handler ran')); "
                        "from scanner.crawl import _exit_worker; print('done', flush=False); "
                        "_exit_worker(3)")
    assert result.returncode == 3
    assert result.stdout.split("\n")[:2] == ["done", "exit handler ran"]
    assert time.monotonic() - started < 120
