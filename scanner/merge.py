"""Merge shard databases (each one scan of part of a registry) into one scan of a results database.

Per-target rows are copied with their scan and document ids remapped; documents are stored once
per sha256, apps once per APK sha256. Cross-check findings and scores are per target and computed
on the node with the same rules, so they are kept (an explanation names facts, not finding ids;
an older shard's finding ids are remapped). Each shard is merged in one transaction: a bad shard
brings nothing, the others are kept.

Longer than 500 lines because each kind of row a shard brings (documents and their findings,
rows kept once by content, targets, per-scan rows, rules, scores, evidence files) is copied here,
inside the one transaction that merges the shard.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sqlite3
from pathlib import Path

from scanner import __version__, store
from scanner.download import file_sha256
from scanner.rules_record import add_rules
from scanner.scoring import store_scores
from scanner.shard import Shard, ShardError
from scanner.shard_db import (SHARED_TABLES, MergeError, integer_pk, refuse_if_shared,
                              open_shard, per_scan_tables, scan_rows, shard_key,
                              shard_spec, table_columns)

# Columns that hold a scan id or a document id, remapped on copy.
DOCUMENT_ID_COLUMNS = ("document_id",)
# Columns naming a row of a table kept once per content sha256.
CONTENT_TABLES = {"app_sha256": "apps", "raw_sha256": "bodies"}
# Tables of older shards: all findings (before m011), and the tables m013 renamed.
RENAMED_TABLES = {"findings": "scan_findings", "fetches": "fetch_rows",
                  "third_parties": "third_party_rows", "cookies": "cookie_rows"}
# Per-scan tables copied by their own step: rules and explanations are stored once by content.
STORED_APART = {"rules", "scores", "scan_scores"}
# Foreign keys a copied row may hold: scan and document ids are remapped, the rest are natural keys.
KNOWN_REFERENCES = {("scans", "id"), ("documents", "id"), ("apps", "sha256"), ("bodies", "sha256"),
                    ("targets", "id")}


@dataclasses.dataclass
class ShardResult:
    source: str
    status: str             # merged | replaced | already merged | refused
    scan_id: int | None = None
    shard: str = ""
    shard_status: str = ""
    targets: int = 0
    documents_new: int = 0
    rows: int = 0
    evidence_missing: int = 0
    reason: str = ""

    def line(self) -> str:
        if self.status == "refused":
            return f"{self.source}: {self.reason}"
        what = f"shard {self.shard}" if self.shard else "whole registry"
        if self.status == "already merged":
            return f"{self.source}: {what} already merged into scan {self.scan_id}: nothing added"
        missing = (f"; {self.evidence_missing} evidence files not found beside it"
                   if self.evidence_missing else "")
        return (f"{self.source}: {what} ({self.shard_status}) {self.status} into scan "
                f"{self.scan_id}: {self.targets} targets, {self.rows} rows, "
                f"{self.documents_new} new documents{missing}")


@dataclasses.dataclass
class MergeOutcome:
    scan_id: int | None
    status: str | None            # the merged scan's status: complete | interrupted
    results: list[ShardResult]
    missing_shards: list[str]     # I/N never merged
    unfinished_shards: list[str]  # merged, but their scan did not complete

    @property
    def refused(self) -> list[ShardResult]:
        return [r for r in self.results if r.status == "refused"]


def _insert(db, table: str, records: list[dict], *, replace: bool = False) -> None:
    """Plain INSERTs on the open transaction (sqlite-utils' helpers would commit it midway)."""
    if not records:
        return
    columns = list(records[0])
    sql = (f"INSERT {'OR REPLACE ' if replace else ''}INTO [{table}] "
           f"({', '.join(f'[{c}]' for c in columns)}) VALUES ({', '.join('?' for _ in columns)})")
    db.conn.executemany(sql, [[r[c] for c in columns] for r in records])


def merge_shards(out_path, shard_paths, *, into: int | str | None = None,
                 force_rules: bool = False, targets_file: str | None = None,
                 on_result=None) -> MergeOutcome:
    """Merge each shard database into one scan of out_path; a shard merged before adds nothing.

    into: the merged scan to add to (an id or 'latest'), or 'new'; by default the scan that
    already holds one of these shards, else the latest merged scan still missing such a shard,
    else a new scan. on_result(ShardResult) is called after each shard."""
    db = store.open_db(out_path)
    try:
        results: list[ShardResult] = []
        scan_id = _resolve_into(db, into)
        join_open = into in (None, "")
        for path in shard_paths:
            result = _merge_one(db, Path(out_path), Path(path), scan_id, force_rules, targets_file,
                                join_open=join_open and scan_id is None)
            if result.scan_id is not None and scan_id is None:
                scan_id = result.scan_id
            results.append(result)
            if on_result:
                on_result(result)
        if scan_id is None:
            return MergeOutcome(None, None, results, [], [])
        status, missing, unfinished = _settle_scan(db, scan_id)
        return MergeOutcome(scan_id, status, results, missing, unfinished)
    finally:
        db.close()


def _resolve_into(db, into) -> int | None:
    if into in (None, "", "new"):
        return None
    if into == "latest":
        row = db.execute("SELECT MAX(scan_id) FROM merged_shards").fetchone()
        return row[0]
    scan_id = int(into)
    if not db["scans"].count_where("id = ?", [scan_id]):
        raise MergeError(f"no scan with id {scan_id} to merge into")
    return scan_id


def _merge_one(db, out_path: Path, path: Path, scan_id: int | None, force_rules: bool,
               targets_file: str | None, *, join_open: bool = True) -> ShardResult:
    source = str(path)
    try:
        conn = open_shard(path)
    except MergeError as exc:
        return ShardResult(source, "refused", reason=str(exc))
    try:
        row = conn.execute("SELECT * FROM scans ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return ShardResult(source, "refused", reason="holds no scan")
        shard_scan = dict(row)
        spec = shard_spec(shard_scan)
        if spec:
            try:
                spec = str(Shard.parse(spec))
            except ShardError as exc:
                return ShardResult(source, "refused", reason=str(exc))
        key = shard_key(shard_scan)
        previous = db.execute("SELECT scan_id, shard_status, shard_finished_at FROM merged_shards "
                              "WHERE shard_key = ?", [key]).fetchone()
        if previous:
            if scan_id is not None and previous[0] != scan_id:
                return ShardResult(source, "refused", reason=f"already merged into scan {previous[0]}, "
                                   f"not scan {scan_id}")
            if (previous[1], previous[2]) == (shard_scan["status"], shard_scan["finished_at"]):
                return ShardResult(source, "already merged", scan_id=previous[0], shard=spec,
                                   shard_status=shard_scan["status"])
            scan_id = previous[0]
        if scan_id is None and not previous and spec and join_open:
            scan_id = _open_merged_scan_missing(db, Shard.parse(spec))
        if shard_scan["status"] == "running":
            return ShardResult(source, "refused", reason=f"its scan {shard_scan['id']} is still running")
        if scan_id is not None:
            merged_rules = db["scans"].get(scan_id)["rules_version"]
            if merged_rules != shard_scan["rules_version"] and not force_rules:
                return ShardResult(source, "refused", reason=(
                    f"rules version {shard_scan['rules_version']} differs from scan {scan_id}'s "
                    f"{merged_rules}: scanned with other rules (--force-rules to merge anyway)"))
        target_ids = [r[0] for r in conn.execute(
            "SELECT target_id FROM scan_targets WHERE scan_id = ? ORDER BY target_id",
            [shard_scan["id"]])]
        try:
            with db.conn:  # one transaction: a shard that fails half-way brings nothing
                if scan_id is None:
                    scan_id = _new_merged_scan(db, shard_scan, targets_file)
                overlap = _overlap(db, scan_id, key, target_ids)
                if overlap:
                    raise MergeError(
                        f"its targets overlap another shard of scan {scan_id} "
                        f"({', '.join(overlap[:3])}{', ...' if len(overlap) > 3 else ''}): "
                        "shards of different N?")
                replaced = bool(previous)
                if replaced:
                    _forget_targets(db, scan_id, target_ids)
                evidence = EvidenceFiles(path, out_path)
                counts = _copy_scan(db, conn, shard_scan["id"], scan_id, target_ids, evidence)
                evidence.copy()
                _insert(db, "merged_shards", [{
                    "shard_key": key, "scan_id": scan_id, "shard": spec,
                    "shard_scan_id": shard_scan["id"], "shard_status": shard_scan["status"],
                    "shard_started_at": shard_scan["started_at"],
                    "shard_finished_at": shard_scan["finished_at"],
                    "rules_version": shard_scan["rules_version"],
                    "tool_version": shard_scan["tool_version"], "targets": json.dumps(target_ids),
                    "source": source, "file_sha256": file_sha256(path), "merged_at": store.now(),
                }], replace=True)
        except MergeError as exc:
            return ShardResult(source, "refused", reason=f"{exc}; nothing merged from it")
        return ShardResult(source, "replaced" if replaced else "merged", scan_id=scan_id,
                           shard=spec, shard_status=shard_scan["status"],
                           targets=len(target_ids), evidence_missing=evidence.missing, **counts)
    except sqlite3.DatabaseError as exc:
        return ShardResult(source, "refused", reason=f"unreadable ({exc}); nothing merged from it")
    finally:
        conn.close()


def _open_merged_scan_missing(db, shard: Shard) -> int | None:
    """The latest merged scan, if it is still incomplete and lacks this very shard of the same N:
    `scanner merge OUT a.db` then `scanner merge OUT b.db` build one scan, as one call would."""
    row = db.execute("SELECT s.id, s.status FROM scans s WHERE s.id = "
                     "(SELECT MAX(scan_id) FROM merged_shards)").fetchone()
    if row is None or row[1] == "complete":
        return None
    specs = [r[0] for r in db.execute("SELECT shard FROM merged_shards WHERE scan_id = ?", [row[0]])]
    parsed = [Shard.parse(spec) for spec in specs if spec]
    if len(parsed) != len(specs) or any(p.count != shard.count or p == shard for p in parsed):
        return None
    return row[0]


def _new_merged_scan(db, shard_scan: dict, targets_file: str | None) -> int:
    options = json.loads(shard_scan["options"] or "{}")
    options["shard"] = ""
    options["merged"] = True
    cursor = db.conn.execute(
        "INSERT INTO scans (started_at, finished_at, status, tool_version, rules_version, "
        "targets_file, options) VALUES (?, NULL, 'running', ?, ?, ?, ?)",
        [shard_scan["started_at"], __version__, shard_scan["rules_version"],
         targets_file or shard_scan["targets_file"], json.dumps(options, sort_keys=True)])
    return cursor.lastrowid


def _overlap(db, scan_id: int, key: str, target_ids: list[str]) -> list[str]:
    """Targets of this shard another shard of the scan already brought."""
    theirs = set()
    for row in db.execute("SELECT targets FROM merged_shards WHERE scan_id = ? AND shard_key != ?",
                          [scan_id, key]):
        theirs.update(json.loads(row[0]))
    return sorted(theirs.intersection(target_ids))


def _forget_targets(db, scan_id: int, target_ids: list[str]) -> None:
    """The rows a shard brought before: it is merged again after it was resumed."""
    refuse_if_shared(db, scan_id, target_ids)
    for table in db.table_names():
        if table in SHARED_TABLES or table.startswith("_"):
            continue
        if {"scan_id", "target_id"} <= set(db[table].columns_dict):
            for target_id in target_ids:
                db.conn.execute(f"DELETE FROM [{table}] WHERE scan_id = ? AND target_id = ?",
                                [scan_id, target_id])


def _next_id(db, table: str, column: str) -> int:
    return (db.execute(f"SELECT MAX([{column}]) FROM [{table}]").fetchone()[0] or 0) + 1


def _copy_scan(db, conn: sqlite3.Connection, shard_scan_id: int, scan_id: int,
               target_ids: list[str], evidence: EvidenceFiles) -> dict:
    document_map, documents_new = _copy_documents(db, conn, shard_scan_id, scan_id)
    _copy_document_findings(db, conn, shard_scan_id, document_map)
    _copy_content_rows(db, conn, shard_scan_id, scan_id, evidence)
    _copy_targets(db, conn, target_ids, scan_id)
    finding_map: dict[int, int] = {}
    fetch_map: dict[int, int] = {}
    rows = 0
    out_tables = set(db.table_names())
    for shard_table in per_scan_tables(conn):
        if shard_table in STORED_APART:
            continue
        table = RENAMED_TABLES.get(shard_table, shard_table)
        if table not in out_tables:
            raise MergeError(f"table {table} is unknown to this scanner")
        _check_references(conn, shard_table)
        out_columns = db[table].columns_dict
        columns = [c for c in table_columns(conn, shard_table) if c in out_columns]
        id_column = integer_pk(conn, shard_table)
        next_id = _next_id(db, table, id_column) if id_column else None
        order = f"[{id_column}]" if id_column else "rowid"
        records = []
        for row in conn.execute(f"SELECT * FROM {scan_rows(conn, shard_table)} WHERE scan_id = ? "
                                f"ORDER BY {order}", [shard_scan_id]):
            record = {c: row[c] for c in columns}
            record["scan_id"] = scan_id
            if id_column:
                # ids given in shard order keep the order ties are broken by (e.g. in scoring)
                record[id_column] = next_id
                if table == "scan_findings":
                    finding_map[row[id_column]] = next_id
                elif table == "fetch_rows":
                    fetch_map[row[id_column]] = next_id
                next_id += 1
            for column in DOCUMENT_ID_COLUMNS:
                if record.get(column) is not None:
                    record[column] = document_map[record[column]]
            evidence.rewrite(record)
            records.append(record)
        # tables keyed by (scan, name) hold rows every shard brings alike (tracker_lists)
        _insert(db, table, records, replace=not id_column and "target_id" not in out_columns)
        rows += len(records)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rules'").fetchone():
        rows += add_rules(db, scan_id, [dict(r) for r in conn.execute(
            "SELECT * FROM rules WHERE scan_id = ?", [shard_scan_id])])
    rows += _copy_scores(db, conn, shard_scan_id, scan_id, finding_map, fetch_map)
    return {"documents_new": documents_new, "rows": rows}


def _copy_scores(db, conn: sqlite3.Connection, shard_scan_id: int, scan_id: int,
                 finding_map: dict[int, int], fetch_map: dict[int, int]) -> int:
    """The shard's scores, after its findings (finding ids in an explanation are renumbered)."""
    rows = []
    for row in conn.execute("SELECT * FROM scores WHERE scan_id = ?", [shard_scan_id]):
        record = {**dict(row), "scan_id": scan_id}
        if record.get("explanation"):
            record["explanation"] = _remap_explanation(record["explanation"], finding_map,
                                                       fetch_map)
        rows.append(record)
    store_scores(db, rows)
    return len(rows)


def _check_references(conn: sqlite3.Connection, table: str) -> None:
    """A table pointing at another table's row id could not be remapped: refuse, never corrupt."""
    for fk in conn.execute(f"PRAGMA foreign_key_list([{table}])"):
        if (fk[2], fk[4]) not in KNOWN_REFERENCES:
            raise MergeError(f"{table}.{fk[3]} refers to {fk[2]}.{fk[4]}, which merge cannot remap")


def _remap_explanation(explanation: str, finding_map: dict[int, int],
                       fetch_map: dict[int, int]) -> str:
    data = json.loads(explanation)

    def remap(finding_id: int) -> int:
        policy = store.policy_finding_fetch(finding_id)
        if policy is None:
            return finding_map.get(finding_id, finding_id)
        # A policy finding's id is made of its fetch's id, which the copy renumbered.
        fetch_id, n = policy
        return (store.POLICY_FINDING_ID_BASE + fetch_map.get(fetch_id, fetch_id)
                * store.FINDINGS_PER_DOCUMENT + n)

    for contribution in data.get("contributions", []) if isinstance(data, dict) else []:
        if isinstance(contribution, dict) and "finding_ids" in contribution:
            contribution["finding_ids"] = [remap(i) for i in contribution["finding_ids"]]
    return json.dumps(data, ensure_ascii=False)


def _copy_document_findings(db, conn: sqlite3.Connection, shard_scan_id: int,
                            document_map: dict[int, int]) -> None:
    """The policy findings of the documents the scan's fetches saw, once per findings version
    (a document this database already holds with that version keeps its rows: they are alike)."""
    shard_tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "document_findings" not in shard_tables:
        return
    columns = [c for c in table_columns(conn, "document_findings") if c != "id"]
    rows = conn.execute(
        f"""SELECT {', '.join(f'df.[{c}]' for c in columns)} FROM document_findings df
            WHERE EXISTS (SELECT 1 FROM fetches fe WHERE fe.scan_id = ?
                          AND fe.document_id = df.document_id
                          AND fe.findings_version = df.findings_version)
            ORDER BY df.id""", [shard_scan_id])
    records = []
    for row in rows:
        record = {c: row[c] for c in columns}
        record["document_id"] = document_map[record["document_id"]]
        records.append(record)
    if records:
        db.conn.executemany(
            f"INSERT OR IGNORE INTO document_findings ({', '.join(f'[{c}]' for c in columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})", [[r[c] for c in columns] for r in records])


def _copy_documents(db, conn: sqlite3.Connection, shard_scan_id: int, scan_id: int):
    """{shard document id: merged id} for the documents the scan's rows refer to."""
    referenced: set[int] = set()
    for table in per_scan_tables(conn):
        if "document_id" in table_columns(conn, table):
            referenced.update(r[0] for r in conn.execute(
                f"SELECT DISTINCT document_id FROM {scan_rows(conn, table)} WHERE scan_id = ? "
                "AND document_id IS NOT NULL", [shard_scan_id]))
    mapping, new = {}, 0
    columns = [c for c in table_columns(conn, "documents") if c != "id" and c in db["documents"].columns_dict]
    for document_id in sorted(referenced):
        row = conn.execute("SELECT * FROM documents WHERE id = ?", [document_id]).fetchone()
        if row is None:
            raise MergeError(f"a row refers to document {document_id}, which is missing")
        existing = db.execute("SELECT id FROM documents WHERE sha256 = ?", [row["sha256"]]).fetchone()
        if existing:
            mapping[document_id] = existing[0]
            continue
        record = {c: row[c] for c in columns}
        record["first_seen_scan"] = scan_id
        record["id"] = _next_id(db, "documents", "id")
        _insert(db, "documents", [record])
        mapping[document_id] = record["id"]
        new += 1
    return mapping, new


def _copy_content_rows(db, conn: sqlite3.Connection, shard_scan_id: int, scan_id: int,
                       evidence: EvidenceFiles) -> None:
    """Rows kept once per content hash (APKs, raw bodies) that the scan's rows refer to."""
    shard_tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for column, table in CONTENT_TABLES.items():
        if table not in shard_tables or table not in db.table_names():
            continue
        wanted: set[str] = set()
        for scan_table in per_scan_tables(conn):
            if column in table_columns(conn, scan_table):
                wanted.update(r[0] for r in conn.execute(
                    f"SELECT DISTINCT [{column}] FROM {scan_rows(conn, scan_table)} WHERE scan_id = ? "
                    f"AND [{column}] IS NOT NULL", [shard_scan_id]))
        columns = [c for c in table_columns(conn, table) if c in db[table].columns_dict]
        for sha256 in sorted(wanted):
            if db[table].count_where("sha256 = ?", [sha256]):
                continue
            row = conn.execute(f"SELECT * FROM [{table}] WHERE sha256 = ?", [sha256]).fetchone()
            if row is None:
                if table == "apps":
                    raise MergeError(f"a row refers to app {sha256[:12]}, which is missing")
                continue  # a body the shard did not keep (size limits): the fetch row says so
            record = {c: row[c] for c in columns}
            if "first_seen_scan" in record:
                record["first_seen_scan"] = scan_id
            evidence.rewrite(record)
            _insert(db, table, [record])


class EvidenceFiles:
    """Evidence files (screenshots, HAR, raw bodies) live beside a database, in `<db>.evidence/`,
    and rows name them relative to the database's folder: rows are pointed at OUT.db's folder
    and the files copied there (content-addressed: a file already there is the same file)."""

    PATH_RE = re.compile(r"^[^/\\]+\.evidence[/\\](.+)$")

    def __init__(self, shard_path: Path, out_path: Path):
        self.source = Path(f"{shard_path}.evidence")
        self.out_name = f"{Path(out_path).name}.evidence"
        self.target = Path(out_path).resolve().parent / self.out_name
        self.pending: list[tuple[Path, Path]] = []
        self.missing = 0

    def rewrite(self, record: dict) -> None:
        value = record.get("path")
        match = self.PATH_RE.match(value) if isinstance(value, str) else None
        if not match:
            return
        rest = match[1].replace("\\", "/")
        record["path"] = f"{self.out_name}/{rest}"
        self.pending.append((self.source / rest, self.target / rest))

    def copy(self) -> None:
        for source, target in self.pending:
            if target.exists():
                continue
            if not source.is_file():
                self.missing += 1  # not brought back with the database: the row still says what it was
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.merge.part")
            shutil.copyfile(source, partial)
            partial.replace(target)


def _copy_targets(db, conn: sqlite3.Connection, target_ids: list[str], scan_id: int) -> None:
    columns = [c for c in table_columns(conn, "targets") if c in db["targets"].columns_dict]
    for target_id in target_ids:
        row = conn.execute("SELECT * FROM targets WHERE id = ?", [target_id]).fetchone()
        if row is None:
            raise MergeError(f"target {target_id} of the scan is missing from its targets table")
        record = {c: row[c] for c in columns}
        existing = db.execute("SELECT first_seen_scan FROM targets WHERE id = ?", [target_id]).fetchone()
        record["first_seen_scan"] = existing[0] if existing else scan_id
        record["last_seen_scan"] = scan_id
        _insert(db, "targets", [record], replace=True)


def _settle_scan(db, scan_id: int) -> tuple[str, list[str], list[str]]:
    """The merged scan is complete only when its shards cover 1..N and every one completed."""
    shards = list(db.execute(
        "SELECT shard, shard_status, shard_started_at, shard_finished_at FROM merged_shards "
        "WHERE scan_id = ?", [scan_id]))
    specs = [Shard.parse(s[0]) for s in shards if s[0]]
    whole = any(not s[0] for s in shards)
    missing: list[str] = []
    if specs and not whole:
        counts = {s.count for s in specs}
        count = max(counts)
        have = {s.index for s in specs if s.count == count}
        missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in have]
    unfinished = [s[0] or "whole registry" for s in shards if s[1] != "complete"]
    status = "complete" if shards and not missing and not unfinished else "interrupted"
    started = min((s[2] for s in shards if s[2]), default=None)
    finished = max((s[3] for s in shards if s[3]), default=None)
    with db.conn:
        db["scans"].update(scan_id, {"status": status, "started_at": started,
                                     "finished_at": finished})
    return status, missing, unfinished
