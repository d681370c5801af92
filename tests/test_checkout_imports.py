"""The tests import the checkout they run in, as the scans they start do (helpers.subprocess_env):
in a worktree copy, the editable install would otherwise give them /work/main's code and rules
while the scans read the copy's (pyproject.toml: pythonpath)."""

from __future__ import annotations

from pathlib import Path

from helpers import ROOT


def test_the_packages_and_rules_the_tests_read_are_those_of_this_checkout():
    import reports
    import scanner
    import spiders
    from scanner.paths import RULES_DIR

    for package in (scanner, reports, spiders):
        assert Path(package.__file__).resolve().parent.parent == ROOT, package.__file__
    assert RULES_DIR.resolve() == ROOT / "rules"
