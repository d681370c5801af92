"""Reading a shard database for `scanner merge`: is it a readable scanner database, which scan it
holds and that scan's identity, and which of its tables hold rows of one scan."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from scanner import store

# Tables keyed by content or id rather than by scan: merged by their key, never per scan.
SHARED_TABLES = {"targets", "scans", "documents", "apps", "bodies", "merged_shards"}
# Since m013 these tables hold the rows a scan stored itself; the view named beside each also
# reads the rows it shares with an earlier scan (observation_refs, fetch_times, cookie_times). A merge copies
# a scan's rows as the view reads them, so the references themselves are not copied.
SHARED_ROW_VIEWS = {"fetch_rows": "fetches", "third_party_rows": "third_parties",
                    "cookie_rows": "cookies", "scan_findings": "findings"}
REFERENCE_TABLES = {"observation_refs", "fetch_times", "cookie_times"}


class MergeError(ValueError):
    """A shard that cannot be merged; str() is the one-line reason (the caller names the file)."""


def open_shard(path: str | Path) -> sqlite3.Connection:
    """The shard database, read-only; MergeError when it is missing, corrupt or not ours."""
    path = Path(path)
    if not path.is_file():
        raise MergeError("no such file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise MergeError(f"not a readable SQLite database ({exc})") from None
    if "_sqlite_migrations" not in tables or "scans" not in tables:
        conn.close()
        raise MergeError("not a scanner database (no scans or migrations table)")
    applied = {r[0] for r in conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [store.migrations.name])}
    if not applied:
        conn.close()
        raise MergeError("not a scanner database (made by another tool)")
    known = known_migrations()
    if applied - known:
        conn.close()
        raise MergeError(f"made by a newer scanner (migrations {', '.join(sorted(applied - known))} "
                         "unknown here): upgrade this scanner first")
    return conn


def known_migrations() -> set[str]:
    """The migrations this scanner applies (all of them are pending on an empty database)."""
    import sqlite_utils

    return set(store.pending_migrations(sqlite_utils.Database(memory=True)))


def shard_key(scan: dict) -> str:
    """Identity of a shard scan, stable however its file is copied or renamed, and across a
    `--resume` of it (which may change run options such as --workers, never these)."""
    identity = json.dumps([scan["id"], scan["started_at"], scan["rules_version"],
                           scan["targets_file"], shard_spec(scan)])
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def shard_spec(scan: dict) -> str:
    try:
        options = json.loads(scan["options"] or "{}")
    except ValueError:
        options = {}
    return options.get("shard") or ""


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]


def integer_pk(conn: sqlite3.Connection, table: str) -> str | None:
    pks = [r for r in conn.execute(f"PRAGMA table_info([{table}])") if r[5]]
    if len(pks) == 1 and (pks[0][2] or "").upper() == "INTEGER":
        return pks[0][1]
    return None


def per_scan_tables(conn: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
    return [n for n in names if not n.startswith(("_", "sqlite_")) and n not in SHARED_TABLES
            and n not in REFERENCE_TABLES and "scan_id" in table_columns(conn, n)]


def scan_rows(conn: sqlite3.Connection, table: str) -> str:
    """What to SELECT a scan's rows of a per-scan table from: the table, or (m013) its view."""
    shares = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'observation_refs'").fetchone()
    if not shares or table not in SHARED_ROW_VIEWS:
        return f"[{table}]"
    if table == "scan_findings":  # the view's policy findings are document_findings rows
        return f"(SELECT * FROM findings WHERE id < {store.POLICY_FINDING_ID_BASE})"
    return f"[{SHARED_ROW_VIEWS[table]}]"


def refuse_if_shared(db, scan_id: int, target_ids: list[str]) -> None:
    """MergeError when a later scan shares rows these targets have in this scan (m013): they
    cannot be replaced without taking that scan's rows with them."""
    if "observation_refs" not in db.table_names() or not target_ids:
        return
    marks = ", ".join("?" for _ in target_ids)
    kinds = [c for c in db["observation_refs"].columns_dict if c.endswith("_from")]
    by_row = [f"""SELECT t.scan_id FROM [{times}] t JOIN [{table}] r ON r.id = t.[{column}]
                  WHERE r.scan_id = ? AND t.scan_id != ? AND r.target_id IN ({marks})"""
              for table, times, column in (("fetch_rows", "fetch_times", "fetch_id"),
                                           ("cookie_rows", "cookie_times", "cookie_id"))
              if times in db.table_names()]
    row = db.execute(
        "\nUNION ALL\n".join([
            f"""SELECT scan_id FROM observation_refs WHERE scan_id != ? AND target_id IN ({marks})
                AND ? IN ({', '.join(f'[{c}]' for c in kinds)})""", *by_row]) + " LIMIT 1",
        [scan_id, *target_ids, scan_id] + [scan_id, scan_id, *target_ids] * len(by_row)).fetchone()
    if row:
        raise MergeError(f"scan {row[0]} shares rows of these targets in scan {scan_id}: "
                         "they cannot be replaced")
