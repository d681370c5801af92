"""What `scanner scan` shows: progress per target while it runs (a bar on a terminal, one line
per target elsewhere, and in --log-file), then the summary table of the scan."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)
from rich.table import Table

from scanner.crawl import ScanEvents, ScanOutcome
from scanner.lock import utc_timestamp

NOT_SCORED = "not scored"


def summary_rows(db, scan_id: int) -> list[dict]:
    """One row per target of the scan: scored ones riskiest first, then those not scored
    (pending or failed in an interrupted scan)."""
    rows = []
    for row in db.execute(
        """SELECT s.target_id, t.name, t.audience, s.status, s.grade, s.score, s.explanation
           FROM scores s JOIN targets t ON t.id = s.target_id
           WHERE s.scan_id = ? ORDER BY (s.score IS NULL), s.score DESC, s.target_id""",
        [scan_id],
    ).fetchall():
        target_id, name, audience, status, grade, score, explanation = row
        explanation = json.loads(explanation or "{}")
        # What raised the score most; stated safeguards lower it and are not top findings.
        risks = [c for c in explanation.get("contributions", []) if c.get("kind") != "safeguard"]
        top = [c["rule_id"] for c in sorted(risks, key=lambda c: -(c.get("points") or 0))[:3]]
        rows.append({"target_id": target_id, "name": name, "audience": audience, "status": status,
                     "grade": grade, "score": score, "top_findings": top})
    for target_id, name, audience, progress in db.execute(
        """SELECT st.target_id, t.name, t.audience, st.status FROM scan_targets st
           JOIN targets t ON t.id = st.target_id
           WHERE st.scan_id = ? AND st.target_id NOT IN
                 (SELECT target_id FROM scores WHERE scan_id = ?)
           ORDER BY st.target_id""",
        [scan_id, scan_id],
    ).fetchall():
        rows.append({"target_id": target_id, "name": name, "audience": audience,
                     "status": f"{NOT_SCORED} ({progress})", "grade": None, "score": None,
                     "top_findings": []})
    return rows


def grade_changes(db, scan_id: int) -> list[dict]:
    """Per target of the scan that an earlier scan also judged: its grade, score and status
    then and now, and the scan compared with. Targets new to the database are left out."""
    from scanner.diff import previous_scan_for_target

    changes = []
    for target_id, status, grade, score in db.execute(
            "SELECT target_id, status, grade, score FROM scores WHERE scan_id = ? "
            "ORDER BY target_id", [scan_id]).fetchall():
        previous = previous_scan_for_target(db, target_id, scan_id)
        if previous is None:
            continue
        before = db.execute("SELECT status, grade, score FROM scores WHERE scan_id = ? AND "
                            "target_id = ?", [previous, target_id]).fetchone()
        changes.append({
            "target_id": target_id, "previous_scan_id": previous,
            "before": {"status": before[0], "grade": before[1], "score": before[2]},
            "after": {"status": status, "grade": grade, "score": score},
            "changed": tuple(before) != (status, grade, score),
        })
    return changes


def _result_text(side: dict) -> str:
    if side["grade"] is None:
        return side["status"] or "-"
    return f"{side['grade']} ({side['score']})"


def grade_change_lines(changes: list[dict]) -> list[str]:
    """What the summary prints: one line per target whose result moved, or why there are none."""
    if not changes:
        return ["grade changes since the previous scan: none to compare (first scan of these "
                "targets)"]
    moved = [c for c in changes if c["changed"]]
    lines = [f"grade changes since the previous scan: {len(moved)} of {len(changes)} "
             "targets changed"]
    for c in moved:
        before, after = c["before"], c["after"]
        delta = ""
        if before["score"] is not None and after["score"] is not None:
            delta = f", score {after['score'] - before['score']:+d}"
        worse = (after["score"] or 0) > (before["score"] or 0) or (
            after["grade"] is None) != (before["grade"] is None)
        direction = "riskier" if worse else "less risky"
        if after["grade"] is None or before["grade"] is None:
            direction = "now " + (after["status"] or "-")
        lines.append(f"  {c['target_id']}: {_result_text(before)} -> {_result_text(after)} "
                     f"({direction}{delta}; compared with scan {c['previous_scan_id']})")
    return lines


def print_summary(db_path, scan_id: int) -> None:
    from scanner import store  # not at import: `scanner scan` starts its workers before

    db = store.open_db(db_path)
    scan = db["scans"].get(scan_id)
    rows = summary_rows(db, scan_id)
    not_scored = sum(row["status"].startswith(NOT_SCORED) for row in rows)
    title = f"Scan {scan_id} ({scan['status']})"
    if not_scored:
        title += f": {not_scored} of {len(rows)} targets not scored; run again with --resume"
    table = Table(title=title)
    for column in ("target", "audience", "status", "grade", "score", "top findings"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["target_id"], row["audience"], row["status"], row["grade"] or "-",
                      "-" if row["score"] is None else str(row["score"]),
                      ", ".join(row["top_findings"]) or "-")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log file or pipe: keep rows on one line
    console.print(table)
    for line in grade_change_lines(grade_changes(db, scan_id)):
        print(line)
    print(f"scan id: {scan_id}")


class ScanProgress(ScanEvents):
    """Progress of a scan, per target: a rich bar (done, failures, ETA) when stderr is a
    terminal, else one line per target on stderr; every line also appended, timestamped, to
    `log_file`. Use as a context manager: the bar is removed however the scan ends."""

    def __init__(self, log_file: str | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.log = open(log_file, "a", encoding="utf-8", buffering=1) if log_file else None
        self.bar: Progress | None = None
        self.task = None
        self.total = self.finished = self.failed = 0
        self.scan_id: int | None = None

    def __enter__(self) -> ScanProgress:
        return self

    def __exit__(self, *exc) -> None:
        self._stop_bar()
        if self.log:
            self.log.close()

    def say(self, message: str) -> None:
        """A notice (stale lock cleared, scan resumed): stderr, and the log file."""
        self._echo(message)
        self.log_line(message)

    def scan_started(self, scan_id: int, total: int, already_done: int) -> None:
        self.scan_id, self.total, self.finished = scan_id, total, already_done
        resumed = f", {already_done} done before" if already_done else ""
        self.log_line(f"scan {scan_id} started: {total} targets{resumed}")
        if self.stream.isatty():
            self.bar = Progress(
                TextColumn(f"scan {scan_id}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("targets, {task.fields[failed]} failed"), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("scan", total=total, completed=already_done, failed=0)
        else:
            self._echo(f"scan {scan_id}: {total} targets{resumed}")

    def target_finished(self, target_id: str, status: str, seconds: float | None,
                        reachable: bool | None, reason: str | None = None) -> None:
        self.finished += 1
        details = [] if seconds is None else [f"{seconds:.1f} s"]
        if status == "failed" or reachable is False:
            self.failed += 1
            details.append(reason or "unreachable")
        line = f"target {self.finished}/{self.total} {status}: {target_id}" + (
            f" ({', '.join(details)})" if details else "")
        self.log_line(line)
        if self.bar is not None:
            self.bar.update(self.task, advance=1, failed=self.failed)
        else:
            self._echo(line)

    def scan_finished(self, outcome: ScanOutcome) -> None:
        self._stop_bar()

    def final(self, outcome: ScanOutcome, exit_code: int, meaning: str) -> None:
        """The last line: the scan's state and the exit code a scheduler gets."""
        done = outcome.total - len(outcome.not_done)
        unreachable = outcome.score_statuses.count("unreachable")
        line = (f"scan {outcome.scan_id} {outcome.status}: {done}/{outcome.total} targets done, "
                f"{unreachable} unreachable, {len(outcome.not_done)} not scored; "
                f"exit {exit_code} ({meaning})")
        self.say(line)

    def _stop_bar(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def _echo(self, line: str) -> None:
        if self.bar is not None:  # above the bar, which stays at the bottom
            self.bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def log_line(self, line: str) -> None:
        """A line for the log file only (stderr says it otherwise, or not at all)."""
        if self.log:
            self.log.write(f"{utc_timestamp()} {line}\n")
