"""Memory of one scan: resident set size (RSS, from /proc) of `scanner scan` plus every process
under it (its workers), sampled as the scan goes, printed when the scan passes 1,000, 5,000 and
10,000 pages (or the checkpoints given). Linux only. RSS is the figure held to the target; the
proportional set size (PSS: a page shared by n processes, such as a library's code, counted 1/n
in each) is printed beside it, what the processes take from the machine together.

Usage: python bench/memory.py [--pages 5000] [--site-pages 20] [--checkpoints 1000,2500,5000] [--workers auto|N]
       python bench/memory.py --pages 10000 --checkpoints 1000,5000,10000   (about 2-4 minutes)
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_speed import ROOT, scan_command, serve_sites, write_targets  # noqa: E402

PAGE_SIZE = 4096


def tree_rss(root_pid: int) -> dict[int, int]:
    """{pid: RSS bytes} of root_pid and every process descended from it."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * PAGE_SIZE
    tree, changed = {root_pid}, True
    while changed:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        changed = bool(children)
        tree |= children
    return {pid: rss[pid] for pid in tree if pid in rss}


def pss(pid: int) -> int:
    """Proportional set size of a process in bytes (0 once it has ended)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pages_so_far(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM fetches").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet, or locked for a moment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5000, help="pages of the scan, about")
    parser.add_argument("--site-pages", type=int, default=20, help="pages per generated site")
    parser.add_argument("--checkpoints", default="1000,2500,5000")
    parser.add_argument("--limit-seconds", type=float, default=300,
                        help="stop the scan after this long and print what was reached")
    parser.add_argument("--workers", default="auto",
                        help="the scan's --workers: auto (the scan's own default) or a number")
    args = parser.parse_args()
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    # A site's fetches: its pages plus the policy spider's homepage and policy page.
    sites = -(-args.pages // (args.site_pages + 2))
    mb = 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp, serve_sites(sites, args.site_pages) as homepages:
        targets_file = write_targets(Path(tmp) / "targets.yaml", homepages)
        db_path = Path(tmp) / "memory.db"
        started = time.monotonic()
        scan = subprocess.Popen(scan_command(targets_file, db_path, args.site_pages, args.workers), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak_total, peak_process, peak_pss, pages, last_count = 0, 0, 0, 0, 0.0
        pending = list(checkpoints)
        print(f"memory: one scan of {sites} sites x {args.site_pages} pages (--workers {args.workers})")
        while scan.poll() is None:
            sizes = tree_rss(scan.pid)
            peak_total = max(peak_total, sum(sizes.values()))
            peak_process = max([peak_process, *sizes.values()])
            peak_pss = max(peak_pss, sum(pss(pid) for pid in sizes))
            now = time.monotonic()
            if now - last_count > 0.5:
                pages, last_count = pages_so_far(db_path), now
                while pending and pages >= pending[0]:
                    print(f"memory: at {pending.pop(0):6} pages ({pages} fetched, "
                          f"{now - started:5.0f} s): peak RSS of the scan and its workers "
                          f"{peak_total / mb:6.0f} MB; largest single process {peak_process / mb:.0f} MB; "
                          f"PSS {peak_pss / mb:.0f} MB",
                          flush=True)
            if now - started > args.limit_seconds:
                scan.terminate()
                scan.wait(60)
                print(f"memory: stopped after {args.limit_seconds:.0f} s at {pages} pages; "
                      f"checkpoints not reached: {pending}")
                break
            time.sleep(0.1)
        pages = pages_so_far(db_path)
        if scan.returncode not in (0, 1, -15):
            sys.exit(f"scan failed ({scan.returncode}): {scan.stderr.read()[-2000:]}")
        for checkpoint in pending if scan.returncode != -15 else ():
            print(f"memory: checkpoint {checkpoint} not reached: the scan had {pages} pages")
        print(f"memory: whole scan: {pages} fetches in {time.monotonic() - started:.0f} s, peak RSS "
              f"{peak_total / mb:.0f} MB (scan process + workers; target < 300 MB, flat); largest "
              f"single process {peak_process / mb:.0f} MB; PSS {peak_pss / mb:.0f} MB")


if __name__ == "__main__":
    main()
