"""Browse a results database in Datasette, with the project's metadata and canned queries.

Table descriptions and queries live in scanner/datasette_metadata.yaml; column descriptions are read
from docs/schema.md so that the schema keeps one document.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from scanner.paths import PACKAGE_DIR, ROOT
from scanner.store import connect_read_only, is_writable, open_for_reading

METADATA_FILE = PACKAGE_DIR / "datasette_metadata.yaml"
SCHEMA_DOC = ROOT / "docs" / "schema.md"

_HEADING = re.compile(r"^#{2,3}\s+`?([A-Za-z_][A-Za-z0-9_]*)`?\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_VIEWS_HEADING = re.compile(r"^#{2,3}\s+Views\s*$", re.IGNORECASE)


def schema_column_descriptions(markdown: str) -> dict[str, dict[str, str]]:
    """{table: {column: meaning}} from docs/schema.md: a `## table` heading, then a column table.

    The views section is one table of `| view | column | meaning |` rows.
    """
    tables: dict[str, dict[str, str]] = {}
    current, in_views = None, False
    aliases: dict[str, str] = {}
    for line in markdown.splitlines():
        line = line.strip()
        if line.startswith("#"):
            in_views = bool(_VIEWS_HEADING.match(line))
            match = _HEADING.match(line)
            current = match.group(1) if match and not in_views else None
            continue
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(line.strip("|"))]
        if in_views and len(cells) >= 3:
            table, column, meaning = cells[0], cells[1], " | ".join(cells[2:])
        elif current and len(cells) >= 2:
            table, column, meaning = current, cells[0], " | ".join(cells[1:])
        else:
            continue
        column = column.strip("`")
        same = re.fullmatch(r"\(all columns of (\w+)\)", column)
        if same and not in_views:  # a table of stored rows documented as the view over them
            aliases[table] = same.group(1)
            continue
        if column.lower() in ("column", "view") or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column):
            continue
        tables.setdefault(table.strip("`"), {})[column] = meaning
    for table, view in aliases.items():
        tables[table] = {**tables.get(view, {}), **tables.get(table, {})}
    return tables


def build_metadata(db_path: str | Path, schema_doc: Path | None = SCHEMA_DOC) -> dict:
    """Datasette metadata for this database file: instance metadata, tables, columns, queries."""
    config = yaml.safe_load(METADATA_FILE.read_text(encoding="utf-8"))
    columns = {}
    if schema_doc is not None and Path(schema_doc).exists():
        columns = schema_column_descriptions(Path(schema_doc).read_text(encoding="utf-8"))
    tables = {}
    for name in sorted(set(config.get("tables", {})) | set(columns)):
        entry = dict(config.get("tables", {}).get(name) or {})
        if columns.get(name):
            entry["columns"] = columns[name]
        tables[name] = entry
    _drop_missing_fts_tables(db_path, tables)
    instance = {k: v for k, v in config.items() if k not in ("tables", "queries")}
    database = {"tables": tables, "queries": config.get("queries", {})}
    return {**instance, "databases": {database_name(db_path): database}}


def _drop_missing_fts_tables(db_path: str | Path, tables: dict) -> None:
    """An archived read-only database made before scan_findings keeps `findings` as a table
    with its own index, which Datasette finds by itself: a named index it lacks is dropped."""
    if not Path(db_path).is_file():
        return
    db = connect_read_only(db_path)
    try:
        present = set(db.table_names())
    finally:
        db.close()
    for entry in tables.values():
        if entry.get("fts_table") and entry["fts_table"] not in present:
            entry.pop("fts_table")
            entry.pop("fts_pk", None)


def database_name(db_path: str | Path) -> str:
    """The name Datasette gives a database file (its stem)."""
    return Path(db_path).stem


def make_datasette(db_path: str | Path, metadata: dict | None = None,
                   immutable: bool | None = None):
    """Datasette over the database; `immutable` (default: when the file cannot be written, an
    archived copy on read-only media) opens it with `immutable=1`, which needs no -wal/-shm."""
    from datasette.app import Datasette

    if immutable is None:
        immutable = not is_writable(db_path)
    files = {"immutables": [str(db_path)]} if immutable else {"files": [str(db_path)]}
    return Datasette(**files, metadata=metadata or build_metadata(db_path),
                     settings={"sql_time_limit_ms": 5000})


def prepare_database(db_path: str | Path) -> bool:
    """Check that db_path is a results database (DatabaseFileError, one line, if not) and bring
    a writable one up to date (search indexes, rules table); True when it is read-only."""
    db = open_for_reading(db_path)
    db.close()
    return not is_writable(db_path)


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8001,
          on_ready=None) -> None:
    """Run Datasette on host:port until interrupted (startup hooks run on the first request);
    `on_ready(note)` is told before it starts (note: ' (read-only)' or '')."""
    import uvicorn

    read_only = prepare_database(db_path)
    datasette = make_datasette(db_path, immutable=read_only)
    if on_ready:
        on_ready(" (read-only)" if read_only else "")
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")
