"""Database growth of an unchanged re-scan: the same generated sites scanned twice into one
database; its size after scan 2 against after scan 1, and where the growth goes.

Sizes are of the database file after a WAL checkpoint, not VACUUMed (what a user's disk holds),
and of a VACUUMed copy (`VACUUM INTO`: the pages the data needs); the evidence folder (raw bodies
kept once by sha256) is printed apart.

Usage: python bench/storage_growth.py [--sites 100] [--pages 10]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_speed import run_scan_command, serve_sites, write_targets  # noqa: E402


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def measure(db_path: Path, tmp: Path) -> dict:
    """Sizes in bytes: file (checkpointed), vacuumed copy, evidence folder, and per table."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    vacuumed = tmp / "vacuumed.db"
    vacuumed.unlink(missing_ok=True)
    conn.execute("VACUUM INTO ?", [str(vacuumed)])
    tables = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    rows = {name: conn.execute(f"SELECT COUNT(*) FROM [{name}]").fetchone()[0] for (name,) in
            conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                         "AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'")}
    shared = {}
    if "observation_refs" in rows:  # m013: how many targets of the latest scan shared each kind
        columns = [r[1] for r in conn.execute("PRAGMA table_info(observation_refs)")
                   if r[1].endswith("_from")]
        shared = {f"{kind}_from": conn.execute(
            f"SELECT COUNT(DISTINCT target_id) FROM {times} "
            "WHERE scan_id = (SELECT MAX(id) FROM scans)").fetchone()[0]
            for kind, times in (("fetches", "fetch_times"), ("cookies", "cookie_times"))}
        shared.update(zip(columns, conn.execute(
            f"SELECT {', '.join(f'COUNT([{c}])' for c in columns)} FROM observation_refs "
            "WHERE scan_id = (SELECT MAX(id) FROM scans)").fetchone(), strict=True))
    conn.close()
    evidence = db_path.with_name(db_path.name + ".evidence")
    return {"file": db_path.stat().st_size, "vacuumed": vacuumed.stat().st_size,
            "evidence": folder_bytes(evidence), "tables": tables, "rows": rows, "shared": shared}


def growth(after: int, before: int) -> str:
    return f"{(after - before) / before * 100:+.1f}%" if before else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--pages", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve_sites(args.sites, args.pages) as homepages:
        tmp = Path(tmp)
        targets_file = write_targets(tmp / "targets.yaml", homepages)
        db_path = tmp / "growth.db"
        run_scan_command(targets_file, db_path, args.pages, workers=1)
        first = measure(db_path, tmp)
        run_scan_command(targets_file, db_path, args.pages, workers=1)
        second = measure(db_path, tmp)
    mb = 1024 * 1024
    print(f"storage: {args.sites} sites x {args.pages} pages scanned twice, nothing changed between")
    for name, label in (("file", "database file, not VACUUMed"), ("vacuumed", "database VACUUMed"),
                        ("evidence", "evidence folder")):
        print(f"storage: {label:29} {first[name] / mb:7.2f} MB after scan 1, "
              f"{second[name] / mb:7.2f} MB after scan 2: {growth(second[name], first[name])}")
    print(f"storage: growth of the re-scan = {growth(second['file'], first['file'])} "
          "(database file, not VACUUMed; target < 5%)")
    if second["shared"]:
        print("storage: targets whose rows scan 2 shares with scan 1 (fetches, cookies: some) "
              "instead of "
              "storing them: "
              + ", ".join(f"{k[:-5]} {v}/{args.sites}" for k, v in second["shared"].items()))
    grown = sorted(second["tables"], key=lambda t: first["tables"].get(t, 0) - second["tables"][t])
    print("storage: where scan 2 added bytes (table or index: bytes added, rows before -> after):")
    for name in grown[:8]:
        added = second["tables"][name] - first["tables"].get(name, 0)
        if added <= 0:
            break
        rows = (f"{first['rows'][name]} -> {second['rows'][name]} rows" if name in second["rows"]
                else "index")
        print(f"storage:   {name:36} {added / 1024:8.0f} KB  {rows}")


if __name__ == "__main__":
    main()
