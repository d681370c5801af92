"""The command line: every command documented with an example, and `scrapy crawl` in the checkout."""

import click
import pytest
import sqlite_utils
from click.testing import CliRunner

from expected import DEMO_SCORE_STATUS
from helpers import ROOT, run_scrapy_crawl
from scanner.cli import cli


def all_commands(group=cli, prefix=""):
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from all_commands(command, f"{full} ")
        else:
            yield full, command


def test_every_command_has_an_example_in_its_help():
    for name, _command in all_commands():
        result = CliRunner().invoke(cli, name.split() + ["--help"])
        assert result.exit_code == 0, name
        assert "Example:" in result.output, f"`scanner {name} --help` has no example"


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name, _ in all_commands() if f"scanner {name}" not in readme]
    assert not missing, f"commands missing from README.md: {missing}"


def test_scan_option_defaults_are_the_scan_options_own():
    from dataclasses import fields

    from scanner.options import DEFAULT_OPTIONS

    params = {p.name: p for p in cli.commands["scan"].params}
    valued = [f.name for f in fields(DEFAULT_OPTIONS) if not isinstance(f.default, bool)]
    assert valued, "ScanOptions has no valued fields"
    for name in valued:
        assert params[name].default == getattr(DEFAULT_OPTIONS, name), name


def test_report_on_missing_database_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "none.db" in result.output


def test_classify_reads_stdin():
    result = CliRunner().invoke(cli, ["classify", "-", "--format", "jsonl"],
                                input="We may sell your personal information to data brokers.\n")
    assert result.exit_code == 0
    assert '"polarity": "risk"' in result.output and '"category": "sale"' in result.output


def test_classify_text_shows_one_line_a_finding_with_the_phrase_that_fired():
    text = "We use your information to:\n- send you offers;\n- share it with data brokers.\n"
    result = CliRunner().invoke(cli, ["classify", "-", "--lang", "en"], input=text)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == f"{len(lines) - 1} findings"
    (brokers,) = [line for line in lines if "third_party_sharing.data-brokers" in line]
    assert brokers.split()[:2] == ["risk", "high"]
    assert "data brokers" in brokers.split(" in: ")[0]
    assert "- send you offers; - share it with data brokers." in brokers


@pytest.mark.crawl
def test_bare_scrapy_crawl_policy_is_a_scan_of_its_own(demo_targets_file, tmp_path):
    db_path = tmp_path / "crawl.db"
    result = run_scrapy_crawl("policy", demo_targets_file, db_path)
    assert result.returncode == 0, result.stderr[-2000:]
    db = sqlite_utils.Database(db_path)
    (scan,) = db["scans"].rows
    assert scan["status"] == "complete"
    assert db["documents"].count >= 4
    statuses = {r["target_id"]: r["status"] for r in db["scores"].rows}
    assert statuses == DEMO_SCORE_STATUS  # the policy spider alone reaches, finds and scores as a scan
