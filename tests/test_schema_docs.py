"""docs/schema.md documents every table, view and column the migrations create."""

import re

from helpers import ROOT
from scanner.store import open_db

SCHEMA_DOC = ROOT / "docs" / "schema.md"


def documented() -> dict[str, set[str]]:
    """{table or view: {columns}} from the doc's headings and tables."""
    doc = SCHEMA_DOC.read_text(encoding="utf-8")
    tables: dict[str, set[str]] = {}
    current = None
    for line in doc.splitlines():
        heading = re.match(r"^## (\w+)", line)
        if heading:
            current = heading.group(1)
            tables.setdefault(current, set())
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if current == "Views" and len(cells) == 3 and cells[0] not in ("view", "---"):
            tables.setdefault(cells[0], set()).add(cells[1])
        elif current and line.startswith("|") and cells[0] not in ("column", "---"):
            tables[current].add(cells[0])
    return tables


def test_every_table_and_column_is_documented(tmp_path):
    db = open_db(tmp_path / "t.db")
    doc = documented()
    missing = []
    for name in db.table_names() + db.view_names():
        if name.startswith("_"):
            continue
        if name not in doc:
            missing.append(f"table or view {name}")
            continue
        if any(c.startswith("(all columns of ") for c in doc[name]):
            continue  # a table documented as the view it stores the rows of
        for column in db[name].columns_dict:
            if column not in doc[name]:
                missing.append(f"{name}.{column}")
    assert not missing, f"undocumented in docs/schema.md: {', '.join(missing)}"


def test_doc_names_no_column_that_does_not_exist(tmp_path):
    db = open_db(tmp_path / "t.db")
    actual = {name: set(db[name].columns_dict) for name in db.table_names() + db.view_names()}
    stale = [
        f"{table}.{column}"
        for table, columns in documented().items()
        if table in actual
        for column in columns
        if column not in actual[table] and not column.startswith("(")
    ]
    assert not stale, f"docs/schema.md names columns that do not exist: {stale}"


def test_database_is_in_wal_mode_and_migrations_are_idempotent(tmp_path):
    path = tmp_path / "t.db"
    open_db(path).close()
    db = open_db(path)
    assert db.journal_mode == "wal"
    assert db["_sqlite_migrations"].count >= 1
