"""The SQLite store: opening databases (read-write with migrations, or read-only), scans, and
the writes the pipeline makes. The schema itself (migrations, views) is in scanner/schema.py.

Every row traces back to a scan and a target; policy texts are stored once per distinct version.
The schema's one document is docs/schema.md; tests/test_schema_docs.py fails when they drift.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from pathlib import Path

import sqlite_utils

from scanner import __version__
from scanner.stamps import now, text_sha256  # noqa: F401 (store.now, store.text_sha256)

from scanner.schema import (
    FINDINGS_PER_DOCUMENT, POLICY_FINDING_ID_BASE, index_sentences, migrations,
)


# now() and text_sha256() live in scanner.stamps, which a crawl worker imports without this
# module; they are this module's too.


class NestedTransactions(sqlite3.Connection):
    """A connection whose `with` blocks nest: the outermost is one BEGIN IMMEDIATE transaction,
    committed (or rolled back) as a whole; sqlite-utils' own inner `with conn:` blocks join it.

    Workers write to one database at once. A deferred transaction that reads, then writes after
    another worker committed, fails at once with 'database is locked' whatever the busy timeout
    (WAL); taking the write lock first makes it wait instead, and an item is stored whole or
    not at all."""

    depth = 0

    def __enter__(self):
        if self.depth == 0 and not self.in_transaction:
            self.execute("BEGIN IMMEDIATE")
        self.depth += 1
        return self

    def __exit__(self, exc_type, exc, tb):
        self.depth -= 1
        if self.depth == 0:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        return False


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) a results database with every migration applied, in WAL mode."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    # timeout=30: the busy timeout, so a writer waits 30 s for another's transaction.
    db = sqlite_utils.Database(sqlite3.connect(str(path), factory=NestedTransactions,
                                               timeout=30))
    db.enable_wal()
    migrations.apply(db)
    return db


SQLITE_HEADER = b"SQLite format 3\x00"
SCANNER_TABLES = ("scans", "targets", "scores")
# Reading commands cope without these (no rules record, no search index, no raw bodies, policy
# findings rows of the findings table): an archived database made before them is still read,
# never migrated.
OPTIONAL_FOR_READING = ("m008_evidence", "m009_rules_and_search", "m010_sentences",
                        "m011_document_findings", "m012_rules_and_explanations_once")

# m014 only adds the sentences' heading paths: an archive without them reads as before.
OPTIONAL_FOR_READING += ("m014_sentence_headings",)
# m013 only stops storing unchanged observations again: before it they are tables of the names
# the views have since, read alike.
OPTIONAL_FOR_READING += ("m013_observations_once",)
# m015 only adds the rules merged into a policy finding (`also`): without it, none are shown.
OPTIONAL_FOR_READING += ("m015_finding_also",)


class DatabaseFileError(LookupError):
    """A file that cannot be read as a results database; the message is one line naming it."""


def is_writable(path: str | Path) -> bool:
    """The file and its directory (journal, WAL) can be written: not true on a read-only mount,
    even for root (access(2) reports EROFS there)."""
    path = Path(path).resolve()
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def open_for_reading(path: str | Path) -> sqlite_utils.Database:
    """An existing results database for report, diff, status and serve: migrated when it can
    be written; opened read-only (`mode=ro`, or `immutable=1` for an archived copy on read-only
    media) and left untouched when it cannot. Never creates a file."""
    path = Path(path)
    if not path.is_file():
        raise DatabaseFileError(f"{path}: no such database")
    with path.open("rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if not header:
        raise DatabaseFileError(f"{path}: an empty file, not a scanner results database")
    if header != SQLITE_HEADER:
        raise DatabaseFileError(f"{path}: not a SQLite database")
    if is_writable(path):
        db = sqlite_utils.Database(path)
        check_scanner_database(db, path)
        db.execute("PRAGMA busy_timeout = 30000")
        migrations.apply(db)
        index_sentences(db)  # documents merged in from shard databases arrive uncut
        return db
    db = connect_read_only(path)
    check_scanner_database(db, path)
    missing = [name for name in pending_migrations(db) if name not in OPTIONAL_FOR_READING]
    if missing:
        raise DatabaseFileError(f"{path}: read-only and made by an older scanner (migration "
                                f"{missing[0]} missing): copy it somewhere writable to read it")
    return db


def connect_read_only(path: str | Path) -> sqlite_utils.Database:
    """`mode=ro` reads a live database with its WAL; when SQLite cannot open even that (a WAL
    database on read-only media, no -shm beside it), `immutable=1` reads the file as it is."""
    uri = "file:" + urllib.parse.quote(str(Path(path).resolve()))
    wal = Path(f"{path}-wal")
    # No WAL content to read: immutable=1 reads the same rows and creates no -shm beside the file.
    modes = ("mode=ro", "immutable=1") if wal.exists() and wal.stat().st_size else ("immutable=1",)
    for mode in modes:
        conn = sqlite3.connect(f"{uri}?{mode}", uri=True, check_same_thread=False)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            continue
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DatabaseFileError(f"{path}: not a readable SQLite database ({exc})") from None
        return sqlite_utils.Database(conn)
    raise DatabaseFileError(f"{path}: cannot be opened, even read-only")


def check_scanner_database(db: sqlite_utils.Database, path: str | Path) -> None:
    """Raise DatabaseFileError unless this SQLite database holds the scanner's tables."""
    try:
        tables = set(db.table_names() + db.view_names())  # scores is a view since m012
    except sqlite3.DatabaseError as exc:
        raise DatabaseFileError(f"{path}: not a readable SQLite database ({exc})") from None
    missing = [t for t in SCANNER_TABLES if t not in tables]
    if not tables:
        raise DatabaseFileError(f"{path}: an empty SQLite database, not a scanner results "
                                "database")
    if missing:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise DatabaseFileError(f"{path}: not a scanner results database (no {missing[0]} "
                                f"table; it holds {shown})")


def pending_migrations(db: sqlite_utils.Database) -> list[str]:
    """Names of this package's migrations not yet applied to db, in order."""
    return [migration.name for migration in migrations.pending(db)]


def upsert_targets(db: sqlite_utils.Database, targets, scan_id: int) -> None:
    rows = []
    existing = {r["id"]: r for r in db["targets"].rows}
    for t in targets:
        previous = existing.get(t.id)
        rows.append(
            {
                "id": t.id, "name": t.name, "audience": t.audience, "homepage": t.homepage,
                "country": t.country, "tags": json.dumps(t.tags),
                "platforms": json.dumps(t.platforms), "policy_urls": json.dumps(t.policy_urls),
                "first_seen_scan": previous["first_seen_scan"] if previous else scan_id,
                "last_seen_scan": scan_id,
            }
        )
    db["targets"].upsert_all(rows, pk="id")


def mark_targets(db: sqlite_utils.Database, scan_id: int, target_ids, status: str) -> None:
    """Set the scan_targets status (pending, done, failed) of these targets, committed at once."""
    with db.conn:
        for target_id in target_ids:
            db["scan_targets"].upsert(
                {"scan_id": scan_id, "target_id": target_id, "status": status,
                 "finished_at": now() if status != "pending" else None},
                pk=("scan_id", "target_id"),
            )


def start_scan(db: sqlite_utils.Database, *, rules_version: str, targets_file: str,
               options: dict) -> int:
    table = db["scans"]
    table.insert(
        {
            "started_at": now(), "finished_at": None, "status": "running",
            "tool_version": __version__, "rules_version": rules_version,
            "targets_file": str(targets_file), "options": json.dumps(options, sort_keys=True),
        }
    )
    return table.last_pk


def finish_scan(db: sqlite_utils.Database, scan_id: int, status: str = "complete") -> None:
    db["scans"].update(scan_id, {"finished_at": now(), "status": status})


def latest_scan_id(db: sqlite_utils.Database) -> int | None:
    row = db.execute("SELECT MAX(id) FROM scans").fetchone()
    return row[0] if row else None


def resolve_scan_id(db: sqlite_utils.Database, scan: str | int | None) -> int:
    """Turn 'latest', None or a number into a scan id that exists, or raise LookupError."""
    if scan in (None, "latest"):
        scan_id = latest_scan_id(db)
        if scan_id is None:
            raise LookupError("the database holds no scan yet")
        return scan_id
    try:
        scan_id = int(scan)
    except ValueError:
        raise LookupError(f"scan {scan!r} is not a number or 'latest'") from None
    if not db["scans"].count_where("id = ?", [scan_id]):
        raise LookupError(f"no scan with id {scan_id}")
    return scan_id


def store_document(db: sqlite_utils.Database, *, text: str, content_type: str, lang: str,
                   title: str, scan_id: int, url: str, headings=None) -> tuple[int, bool]:
    """Return (document id, created) for this text; an identical text already stored is reused.
    headings: its outline as extracted (scanner.sentences.Heading); None: read from the text."""
    digest = text_sha256(text)
    row = db.execute("SELECT id FROM documents WHERE sha256 = ?", [digest]).fetchone()
    if row:
        return row[0], False
    table = db["documents"]
    table.insert(
        {
            "sha256": digest, "content_type": content_type, "lang": lang, "text": text,
            "title": title, "first_seen_scan": scan_id, "first_url": url, "length": len(text),
            # the outline only when extracted (a database made before m014 has no column for it)
            **({} if headings is None else {"headings": json.dumps(
                [list(h) for h in headings], ensure_ascii=False)}),
        }
    )
    index_sentences(db, [table.last_pk])
    return table.last_pk, True


def policy_finding_fetch(finding_id: int) -> tuple[int, int] | None:
    """(fetch id, ordinal in its document) of a policy finding id of the findings view, or None
    for a scan_findings id."""
    if finding_id < POLICY_FINDING_ID_BASE:
        return None
    return divmod(finding_id - POLICY_FINDING_ID_BASE, FINDINGS_PER_DOCUMENT)


def has_document_findings(db: sqlite_utils.Database, document_id: int, version: str) -> bool:
    return db.execute("SELECT 1 FROM document_findings WHERE document_id = ? AND "
                      "findings_version = ? LIMIT 1", [document_id, version]).fetchone() is not None


def store_document_findings(db: sqlite_utils.Database, document_id: int, version: str,
                            findings) -> int:
    """Keep a document's policy findings once for this findings version; returns rows added.

    OR IGNORE: two workers may store the same new document at once; their rows are alike."""
    rows = [
        {"document_id": document_id, "findings_version": version, "n": n, "rule_id": f.rule_id,
         "category": f.category, "practice": f.practice, "severity": f.severity,
         "polarity": f.polarity, "data_types": json.dumps(list(f.data_types)), "evidence": f.evidence,
         "start": f.start, "end": f.end, "also": json.dumps(list(f.also))}
        for n, f in enumerate(list(findings)[:FINDINGS_PER_DOCUMENT])
    ]
    if rows:
        db["document_findings"].insert_all(rows, batch_size=1000, ignore=True)
    return len(rows)
