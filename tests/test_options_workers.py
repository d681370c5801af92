"""`scanner scan --workers`: a number (default 1), or 'auto': one worker per core, at most
AUTO_WORKERS_MAX."""

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


def test_scan_help_offers_auto_and_defaults_to_one_worker():
    result = CliRunner().invoke(cli, ["scan", "--help"])
    assert result.exit_code == 0
    assert "--workers N|auto" in result.output
    assert "[default: 1]" in " ".join(result.output.split())


def test_a_bad_worker_count_is_bad_input(tmp_path):
    result = CliRunner().invoke(cli, ["scan", str(tmp_path / "t.yaml"), "--db",
                                      str(tmp_path / "r.db"), "--workers", "none"])
    assert result.exit_code == 2
    assert "--workers" in result.output
