"""What a scan stores, compared between versions of the code: the same sites scanned by each.

Serves the crawl bench's generated sites (bench/crawl_speed.py) or, with --demo, the bundled
demo sites, then runs `scanner scan` once from each CODE_DIR given (a checkout of the project,
e.g. `git archive COMMIT | tar -x -C DIR`; all use this venv) against the same servers, and
compares per target the rows of fetches, documents, findings, third parties, cookies, store
listings, scores and scan_targets. Ids, times and values that differ from run to run of the same
code (a response's Date header, a cookie expiry counted from it) are left out; a document is
named by its sha256. Prints, for each table, the row count of the first code dir and whether
every other stored the same; the first differences, if any. Exit status 1 when any differs.

Usage: python bench/scan_outcome.py [--sites 200] [--pages 10] [--demo] [--keep DIR] CODE_DIR...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import sqlite_utils
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Tables and views compared, with rows of one scan and one target each.
TABLES = ("fetches", "findings", "third_parties", "cookies", "store_listings", "scores",
          "scan_targets")
# Columns left out: ids and times, which differ on every run.
VOLATILE = {"id", "scan_id", "fetched_at", "request_sent_at", "response_received_at", "seconds",
            "started_at", "finished_at", "first_seen_scan", "expires"}
# Response headers whose values differ on every run.
VOLATILE_HEADERS = {"date", "expires", "last-modified"}


def bench_targets(tmp: Path, sites: int, pages: int, stack):
    from bench.crawl_speed import serve_sites, write_targets

    homepages = stack.enter_context(serve_sites(sites, pages))
    return write_targets(tmp / "targets.yaml", homepages), pages


def demo_targets(tmp: Path, stack):
    """The demo sites, each on a loopback address of its own (on one address their cookies
    would reach each other's requests, in an order that varies from run to run), and
    targets/demo.yaml pointing at them."""
    import threading
    from http.server import ThreadingHTTPServer

    from scanner.demo.server import DEMO_SITES_DIR, DEMO_TARGETS_FILE, demo_sites, make_handler

    urls: dict[str, str] = {}
    text = DEMO_TARGETS_FILE.read_text(encoding="utf-8")
    for index, site in enumerate(demo_sites()):
        server = ThreadingHTTPServer((f"127.0.0.{20 + index}", 0),
                                     make_handler(DEMO_SITES_DIR / site["dir"], urls))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        urls[site["id"]] = f"http://{server.server_address[0]}:{server.server_address[1]}/"
        text = text.replace(f"http://127.0.0.1:{site['port']}/", urls[site["id"]])
    path = tmp / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path, 10


def scan(code_dir: Path, targets: Path, db_path: Path, pages: int) -> None:
    command = [sys.executable, "-m", "scanner.cli", "scan", str(targets), "--db", str(db_path),
               "--allow-private", "--max-pages", str(pages)]
    result = subprocess.run(command, cwd=code_dir, capture_output=True, text=True)
    if result.returncode not in (0, 1):  # 1: high risks found
        sys.exit(f"{code_dir}: scan failed ({result.returncode}): {result.stderr[-2000:]}")


def _clean(value, column: str):
    if column == "response_headers" and value:
        headers = json.loads(value)
        return json.dumps({k: v for k, v in headers.items() if k.lower() not in VOLATILE_HEADERS},
                          sort_keys=True)
    return value


def outcome(db_path: Path) -> dict[str, list]:
    """{table: sorted rows (as JSON strings) of the database's latest scan}."""
    db = sqlite_utils.Database(db_path)
    scan_id = db.execute("SELECT MAX(id) FROM scans").fetchone()[0]
    documents = {row["id"]: row for row in db.query(
        "SELECT id, sha256, content_type, lang, title, read_with, length(text) AS chars "
        "FROM documents")}
    result = {}
    for table in TABLES:
        if table not in db.table_names() + db.view_names():
            continue
        rows = []
        for row in db.query(f"SELECT * FROM [{table}] WHERE scan_id = ?", [scan_id]):
            clean = {}
            for column, value in row.items():
                if column in VOLATILE or (column.endswith("_id") and column not in (
                        "target_id", "rule_id", "document_id")):
                    continue
                if column == "document_id" and value is not None:
                    document = documents[value]
                    value = {k: document[k] for k in document if k != "id"}
                clean[column] = _clean(value, column)
            rows.append(json.dumps(clean, sort_keys=True, default=str))
        result[table] = sorted(rows)
    db.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("code_dirs", nargs="+", type=Path, metavar="CODE_DIR")
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--demo", action="store_true", help="the demo sites instead")
    parser.add_argument("--keep", type=Path, help="keep the databases in this folder")
    args = parser.parse_args()
    from contextlib import ExitStack

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        targets, pages = (demo_targets(Path(tmp), stack) if args.demo
                          else bench_targets(Path(tmp), args.sites, args.pages, stack))
        count = len(yaml.safe_load(targets.read_text(encoding="utf-8"))["targets"])
        outcomes = []
        for index, code_dir in enumerate(args.code_dirs):
            db_path = folder / f"outcome-{index}.db"
            db_path.unlink(missing_ok=True)
            scan(code_dir.resolve(), targets, db_path, pages)
            outcomes.append(outcome(db_path))
    print(f"outcome: {count} targets; {' vs '.join(map(str, args.code_dirs))}")
    differs = False
    for table, rows in outcomes[0].items():
        others = [o.get(table, []) for o in outcomes[1:]]
        same = all(other == rows for other in others)
        differs |= not same
        print(f"outcome: {table:15} {len(rows):6} rows  {'same' if same else 'DIFFERENT'}")
        for other in others:
            if other != rows:
                only_first = sorted(set(rows) - set(other))[:10]
                only_other = sorted(set(other) - set(rows))[:10]
                for line in only_first:
                    print(f"  - {line[:400]}")
                for line in only_other:
                    print(f"  + {line[:400]}")
    sys.exit(1 if differs else 0)


if __name__ == "__main__":
    main()
