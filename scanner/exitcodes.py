"""The exit codes of `scanner`, defined once: schedulers (cron, systemd) act on them.

docs/scheduling.md documents each; tests/test_lock.py fails when one is missing there.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class ExitCode(enum.IntEnum):
    COMPLETE = 0          # the command did its work; a scan ran to the end
    FAILURE = 1           # a command found problems (e.g. `rules check`), or an unexpected error
    BAD_INPUT = 2         # bad arguments, targets file, database path or id (click uses 2 too)
    INTERRUPTED = 3       # the scan stopped before every target was crawled (Ctrl-C, SIGTERM,
                          # a worker that died); `scanner scan --resume` continues it
    ALL_UNREACHABLE = 4   # the scan ended but no target could be fetched (network down?)
    DATABASE_LOCKED = 5   # another scan holds the database (see `--wait`)


EXIT_CODE_MEANINGS = {
    ExitCode.COMPLETE: "complete: the scan ran to the end (some targets may be unreachable)",
    ExitCode.FAILURE: "a command found problems (rules check) or failed unexpectedly",
    ExitCode.BAD_INPUT: "bad input: arguments, targets file, database or scan id",
    ExitCode.INTERRUPTED: "interrupted: targets are still pending; run again with --resume",
    ExitCode.ALL_UNREACHABLE: "every target was unreachable: check the network",
    ExitCode.DATABASE_LOCKED: "another scan holds the database; nothing was crawled",
}


def scan_exit_code(scan_status: str, score_statuses: Iterable[str]) -> ExitCode:
    """The exit code of a finished run of `scanner scan`, from `scans.status` and the
    `scores.status` of its targets; an interruption outranks unreachable targets."""
    if scan_status != "complete":
        return ExitCode.INTERRUPTED
    statuses = list(score_statuses)
    if statuses and all(status == "unreachable" for status in statuses):
        return ExitCode.ALL_UNREACHABLE
    return ExitCode.COMPLETE
