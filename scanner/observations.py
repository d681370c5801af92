"""A target's observations (its fetches, third parties, cookies, findings) are held in memory
until the target is done, then written in one transaction: as rows, or, where they equal those
of the target's previous scan, as a reference to that scan's rows (a kind as a whole in
`observation_refs`; a fetch or a cookie by itself in `fetch_times` or `cookie_times`, with this
scan's times or expiry). The m013 views read them as rows of both scans. Storage then grows
with what changed, not with each scan.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import sqlite3
from collections import Counter, defaultdict

from typing import TYPE_CHECKING

# scanner.schema and sqlite-utils are imported where used: a crawl worker imports this module
# for ObservationBuffer only.
if TYPE_CHECKING:
    import sqlite_utils


# Response and request headers whose values change from one fetch to the next though the page
# does not: a fetch is the same as before when all but their values is. Their values are kept
# per scan (fetch_times), so a shared fetch row still reads with this scan's own values.
VOLATILE_HEADERS = frozenset({
    "date", "age", "expires", "last-modified", "etag", "set-cookie", "cookie", "x-request-id",
    "x-amz-request-id", "x-amz-cf-id", "x-amz-cf-pop", "cf-ray", "x-cache", "x-cache-hits",
    "x-served-by", "x-timer", "server-timing", "x-runtime", "report-to", "x-trace-id",
})
FETCH_TIMES = ("fetched_at", "request_sent_at", "response_received_at", "seconds")
HEADER_COLUMNS = ("request_headers", "response_headers")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class ObservationBuffer:
    """A target's rows, held in memory until the target is done, then written in one
    transaction by `write_observations` (rows, or a reference to the same rows of its
    previous scan). Kinds are scanner.schema.OBSERVATION_KINDS; other keys are table names
    whose rows are written as they are."""

    def __init__(self):
        self.rows: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        self.closed: set[str] = set()

    def accepts(self, target_id: str) -> bool:
        """False once the target was written: a late row is then written at once."""
        return target_id not in self.closed

    def add(self, target_id: str, observations: dict[str, list[dict]]) -> None:
        for kind, rows in observations.items():
            self.rows[target_id][kind].extend(rows)

    def pop(self, target_id: str) -> dict[str, list[dict]]:
        self.closed.add(target_id)
        return dict(self.rows.pop(target_id, {}))

    def targets(self) -> list[str]:
        return list(self.rows)


def write_observations(db: sqlite_utils.Database, scan_id: int, target_id: str,
                       observations: dict[str, list[dict]]) -> dict[str, int | None]:
    """Write one target's rows in one transaction. A kind whose rows equal those its previous
    scan has (ids aside) is written as a reference to the scan whose rows hold them; a fetch
    equal to one of the previous scan's (times and volatile header values aside too) as that
    row's id with this scan's times. Returns {kind: the previous scan when rows of it were
    shared (for fetches: at least one), else None}."""
    from scanner.schema import OBSERVATION_KINDS, SHARED_BY_ROW

    written: dict[str, int | None] = {}
    with db.conn:
        previous = None
        for kind, rows in observations.items():
            rows = list(rows)
            if not rows:
                continue
            if kind not in OBSERVATION_KINDS:
                _insert_rows(db, kind, rows)
                continue
            if previous is None:
                previous = previous_scan(db, scan_id, target_id) or 0
            share = _share_rows if kind in SHARED_BY_ROW else _share_if_same
            source = previous and share(db, scan_id, target_id, kind, rows, previous)
            if not source:
                _insert_rows(db, OBSERVATION_KINDS[kind][0], rows)
            written[kind] = source or None
    return written


def previous_scan(db, scan_id: int, target_id: str) -> int | None:
    """The latest earlier scan that finished this target (scan_targets 'done')."""
    row = db.execute("SELECT MAX(scan_id) FROM scan_targets WHERE target_id = ? AND scan_id < ? "
                     "AND status = 'done'", [target_id, scan_id]).fetchone()
    return row[0] if row else None


def _insert_rows(db, table: str, rows: list[dict]) -> None:
    """Insert rows into an existing table as sqlite-utils' insert_all would (a column a row
    lacks is NULL; lists and dicts as JSON), with one executemany: insert_all looked the table
    up and converted every value in Python, about half of the scan process's writing."""
    if not rows:
        return
    columns = list(dict.fromkeys(column for row in rows for column in row))
    sql = (f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")
    try:
        db.conn.executemany(sql, [[_value(row.get(c)) for c in columns] for row in rows])
    except sqlite3.OperationalError as exc:  # nothing inserted: it failed to prepare
        if "no such table" not in str(exc):
            raise
        db[table].insert_all(rows, batch_size=1000)  # which makes the table, as before


_STORED_AS_IS = frozenset({str, int, float, bool, bytes, type(None)})


def _value(value):
    """A value as sqlite-utils stores it (`jsonify_if_needed`), quickly for the plain ones."""
    if type(value) in _STORED_AS_IS:
        return value
    from sqlite_utils.db import jsonify_if_needed  # (a crawl worker imports this module)

    return jsonify_if_needed(value)


def _has_rows(db, scan_id: int, target_id: str, kind: str) -> tuple[bool, int | None]:
    """(own rows of this kind?, the scan it shares them from) for one scan and target."""
    from scanner.schema import OBSERVATION_KINDS

    table, _, where, _ = OBSERVATION_KINDS[kind]
    own = db.execute(f"SELECT 1 FROM [{table}] WHERE scan_id = ? AND target_id = ? AND {where} "
                     "LIMIT 1", [scan_id, target_id]).fetchone() is not None
    ref = db.execute(f"SELECT [{kind}_from] FROM observation_refs WHERE scan_id = ? AND "
                     "target_id = ?", [scan_id, target_id]).fetchone()
    return own, ref[0] if ref else None


def _share_if_same(db, scan_id: int, target_id: str, kind: str, rows: list[dict],
                   previous: int) -> int | None:
    """Reference the previous scan's rows of this kind when they equal `rows`; the scan
    holding them, or None (nothing written) when they differ."""
    from scanner.schema import OBSERVATION_KINDS

    if _has_rows(db, scan_id, target_id, kind) != (False, None):
        return None  # this scan has some already: the new rows are added to them
    own, shared = _has_rows(db, previous, target_id, kind)
    if own == (shared is not None):
        return None  # none, or both own and shared rows: not one set to point at
    source = shared or previous
    table, columns, where, view = OBSERVATION_KINDS[kind]
    stored = [dict(r) for r in db.query(
        f"SELECT * FROM [{table}] WHERE scan_id = ? AND target_id = ? AND {where} ORDER BY id",
        [source, target_id])]
    if sorted(_key(_row_content(r)) for r in rows) != sorted(_key(_row_content(r)) for r in stored):
        return None
    db.execute("INSERT OR IGNORE INTO observation_refs (scan_id, target_id) VALUES (?, ?)",
               [scan_id, target_id])
    db.execute(f"UPDATE observation_refs SET [{kind}_from] = ? WHERE scan_id = ? AND "
               "target_id = ?", [source, scan_id, target_id])
    return source


def _share_rows(db, scan_id: int, target_id: str, kind: str, rows: list[dict],
               previous: int) -> int | None:
    """Each fetch (cookie) equal to one of the previous scan's, its times and volatile header
    values (its expiry) aside, becomes a fetch_times (cookie_times) row naming that stored row;
    the others are stored. Returns the previous scan when at least one is shared, or None
    (nothing written)."""
    from scanner.schema import OBSERVATION_KINDS, SHARED_BY_ROW

    table, columns, _, view = OBSERVATION_KINDS[kind]
    times_table, id_column = SHARED_BY_ROW[kind]
    content, this_scan = ROW_SHARING[kind]
    stored: dict[str, list[dict]] = defaultdict(list)
    for row in db.query(f"""SELECT * FROM [{table}] WHERE scan_id = ? AND target_id = ?
                            UNION ALL
                            SELECT r.* FROM [{times_table}] t JOIN [{table}] r
                              ON r.id = t.[{id_column}]
                            WHERE t.scan_id = ? AND t.target_id = ? ORDER BY id""",
                        [previous, target_id, previous, target_id]):
        stored[_key(content(row))].append(row)
    taken = {r[0] for r in db.execute(  # shared already by an earlier write of this scan
        f"SELECT [{id_column}] FROM [{times_table}] WHERE scan_id = ?", [scan_id])}
    own, times, shared = [], [], []
    for row in rows:
        same = [r for r in stored.get(_key(content(row)), ()) if r["id"] not in taken]
        if same:
            taken.add(same[0]["id"])
            times.append(this_scan(scan_id, target_id, row, same[0]))
            shared.append(row)
        else:
            own.append(row)
    if not times:
        return None
    ids = [t[id_column] for t in times]
    db.execute("SAVEPOINT shared_rows")
    try:
        db[times_table].insert_all(times, batch_size=1000)
        # The view must read exactly what the rows would have said: else they are written.
        read = Counter(tuple(r[c] for c in columns[2:]) for r in db.query(
            f"SELECT * FROM [{view}] WHERE scan_id = ? AND id IN ({', '.join('?' * len(ids))})",
            [scan_id, *ids]))
        if read != Counter(tuple(_normal(r.get(c)) for c in columns[2:]) for r in shared):
            db.execute("ROLLBACK TO shared_rows")
            return None
        _insert_rows(db, table, own)
        return previous
    finally:
        db.execute("RELEASE shared_rows")


def _normal(value):
    """A value as SQLite gives it back (sqlite-utils writes lists and dicts as JSON)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=repr)
    return value


def _key(content: tuple) -> str:
    return json.dumps(content, default=repr)


def _row_content(row: dict) -> tuple:
    return tuple((c, _normal(row[c])) for c in sorted(row)
                 if c not in ("id", "scan_id") and row[c] is not None)


def _headers(value) -> tuple[dict | None, str | None]:
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None, value
    return (parsed, None) if isinstance(parsed, dict) else (None, value)


def _fetch_content(row: dict) -> tuple:
    """A fetch without its times and its volatile header values (their names are kept)."""
    content = list(_row_content({k: v for k, v in row.items()
                                 if k not in FETCH_TIMES and k not in HEADER_COLUMNS}))
    for column in HEADER_COLUMNS:
        parsed, raw = _headers(row.get(column))
        if parsed is None:
            content.append((column, raw))
        else:
            content.append((column, sorted(
                (name, None if name.lower() in VOLATILE_HEADERS else values)
                for name, values in parsed.items())))
    return tuple(content)


def _fetch_times(scan_id: int, target_id: str, row: dict, stored: dict) -> dict:
    """This scan's times and volatile header values of a fetch whose row `stored` is shared."""
    date, patch = None, {}
    for column, side in (("response_headers", "response"), ("request_headers", "request")):
        new, _ = _headers(row.get(column))
        old, _ = _headers(stored.get(column))
        changed = {name: values for name, values in (new or {}).items()
                   if name.lower() in VOLATILE_HEADERS and (old or {}).get(name) != values}
        if side == "response" and isinstance(changed.get("Date"), list) \
                and len(changed["Date"]) == 1:
            date = _http_date(changed.pop("Date")[0])
        if changed:
            patch[side] = changed
    return {
        "scan_id": scan_id, "fetch_id": stored["id"], "target_id": target_id,
        "fetched_at": _iso_time(row.get("fetched_at"), "seconds"),
        "request_sent_at": _iso_time(row.get("request_sent_at"), "milliseconds"),
        "response_received_at": _iso_time(row.get("response_received_at"), "milliseconds"),
        "seconds": row.get("seconds"), "date": date,
        "headers": json.dumps(patch, ensure_ascii=False, separators=(",", ":")) if patch else None,
    }


def _iso_time(value, timespec: str):
    """A UTC time as the scanner writes it, as an integer (seconds or ms since 1970); any other
    value as it is (the views read both)."""
    if not isinstance(value, str):
        return value
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None or moment.isoformat(timespec=timespec) != value \
            or moment.utcoffset() != dt.timedelta(0):
        return value
    unit = dt.timedelta(seconds=1) if timespec == "seconds" else dt.timedelta(milliseconds=1)
    return (moment - _EPOCH) // unit


def _http_date(value):
    """An HTTP Date header as seconds since 1970 when it is in the usual form; else as it is."""
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return value
    if moment.tzinfo is None or email.utils.format_datetime(moment, usegmt=True) != value:
        return value
    return int((moment - _EPOCH).total_seconds())


def _cookie_content(row: dict) -> tuple:
    """A cookie without its expiry (whether it has one is kept): a Max-Age counts from now."""
    return (*_row_content({k: v for k, v in row.items() if k != "expires"}),
            ("session", row.get("expires") is None))


def _cookie_times(scan_id: int, target_id: str, row: dict, stored: dict) -> dict:
    """This scan's expiry of a cookie whose row `stored` is shared."""
    return {"scan_id": scan_id, "cookie_id": stored["id"], "target_id": target_id,
            "expires": _iso_time(row.get("expires"), "seconds")}


# Kinds shared row by row: (what must be equal, this scan's own values of a shared row).
ROW_SHARING = {"fetches": (_fetch_content, _fetch_times),
               "cookies": (_cookie_content, _cookie_times)}
