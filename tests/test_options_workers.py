"""`scanner scan --workers`: a number, or 'auto' (the default of the command line and of
ScanOptions): one worker per core, at most AUTO_WORKERS_MAX."""

import click
import pytest
from click.testing import CliRunner

from scanner import options
from scanner.cli import WorkerCount, cli


@pytest.mark.parametrize("cores, expected", [(1, 1), (2, 2), (16, options.AUTO_WORKERS_MAX),
                                             (None, 1)])
def test_auto_is_one_worker_per_core_up_to_the_cap(monkeypatch, cores, expected):
    monkeypatch.setattr(options.os, "cpu_count", lambda: cores)
    assert options.auto_workers() == expected


def test_workers_takes_a_number_or_auto(monkeypatch):
    monkeypatch.setattr(options.os, "cpu_count", lambda: 1)
    count = WorkerCount()
    assert count.convert("auto", None, None) == 1
    assert count.convert("AUTO", None, None) == 1
    assert count.convert("3", None, None) == 3
    assert count.convert(4, None, None) == 4
    for bad in ("0", "65", "two"):
        with pytest.raises(click.BadParameter):
            count.convert(bad, None, None)


def test_scan_help_says_auto_is_the_default():
    result = CliRunner().invoke(cli, ["scan", "--help"])
    assert result.exit_code == 0
    assert "--workers N|auto" in result.output
    assert "[default: (auto)]" in " ".join(result.output.split())


@pytest.mark.parametrize("cores", [1, 2, 16])
def test_scan_options_made_without_workers_run_auto(monkeypatch, cores):
    # run_scan's callers (tests, Scrapyd shard jobs passing only what differs) get what
    # '--workers auto' gives, counted when the options are made
    monkeypatch.setattr(options.os, "cpu_count", lambda: cores)
    assert options.ScanOptions().workers == options.auto_workers() == min(cores, 2)
    assert options.ScanOptions.from_dict({"max_pages": 3}).workers == min(cores, 2)
    assert options.ScanOptions(workers=5).workers == 5


def test_a_bad_worker_count_is_bad_input(tmp_path):
    result = CliRunner().invoke(cli, ["scan", str(tmp_path / "t.yaml"), "--db",
                                      str(tmp_path / "r.db"), "--workers", "none"])
    assert result.exit_code == 2
    assert "--workers" in result.output
