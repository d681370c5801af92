"""The summary table printed after a scan: target, status, grade, score, top findings."""

from __future__ import annotations

import contextlib
import json
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scanner import store


def summary_rows(db, scan_id: int) -> list[dict]:
    rows = []
    for row in db.execute(
        """SELECT s.target_id, t.name, t.audience, s.status, s.grade, s.score, s.explanation
           FROM scores s JOIN targets t ON t.id = s.target_id
           WHERE s.scan_id = ? ORDER BY (s.score IS NULL), s.score DESC, s.target_id""",
        [scan_id],
    ).fetchall():
        target_id, name, audience, status, grade, score, explanation = row
        explanation = json.loads(explanation or "{}")
        top = [c["rule_id"] for c in explanation.get("contributions", [])[:3]]
        rows.append({"target_id": target_id, "name": name, "audience": audience, "status": status,
                     "grade": grade, "score": score, "top_findings": top})
    return rows


def print_summary(db_path, scan_id: int) -> None:
    db = store.open_db(db_path)
    scan = db["scans"].get(scan_id)
    table = Table(title=f"Scan {scan_id} ({scan['status']})")
    for column in ("target", "audience", "status", "grade", "score", "top findings"):
        table.add_column(column)
    for row in summary_rows(db, scan_id):
        table.add_row(row["target_id"], row["audience"], row["status"], row["grade"] or "-",
                      "-" if row["score"] is None else str(row["score"]),
                      ", ".join(row["top_findings"]) or "-")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log file or pipe: keep rows on one line
    console.print(table)
    print(f"scan id: {scan_id}")


@contextlib.contextmanager
def scan_progress(total: int):
    """Yield advance(n): a progress bar of targets crawled, on a terminal only."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    columns = (TextColumn("crawling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("crawl", total=total)
        yield lambda n: progress.advance(task, n)
