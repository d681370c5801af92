"""`scanner serve`: Datasette metadata loads, and every canned query answers on a real scan."""

import asyncio
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import sqlite_utils

from helpers import ROOT, free_port, invoke
from scanner import store
from scanner.rules_record import split_suffix
from scanner.serve import build_metadata, database_name, make_datasette, schema_column_descriptions

EXPECTED_QUERIES = {
    "child_ad_trackers_despite_policy_denial", "data_brokers_per_target", "latest_grade_per_target",
    "policy_changed_last_two_scans", "findings_for_target",
    "child_directed_without_policy_or_unreachable", "third_parties_across_targets",
    "policy_sentences_for_rule", "child_directed_apps_with_ad_sdks", "sdk_entities_by_child_apps",
    "store_declarations_contradicted_by_sdks", "search_policies", "search_findings",
    "findings_with_rules", "search_sentences",
}


@pytest.fixture(scope="module")
def datasette(demo_scan_db):
    return make_datasette(demo_scan_db)


def get_json(datasette, path):
    async def fetch():
        response = await datasette.client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        return response.json()

    return asyncio.run(fetch())


def query(datasette, db_path, name, **params):
    args = "".join(f"&{k}={v}" for k, v in params.items())
    return get_json(datasette, f"/{database_name(db_path)}/{name}.json?_shape=array{args}")


def sale_rule_id(db_path):
    return sqlite_utils.Database(db_path).execute(
        "SELECT rule_id FROM findings WHERE target_id = 'pixel-pals' AND category = 'sale' "
        "AND polarity = 'risk' AND source = 'policy' LIMIT 1").fetchone()[0]


def test_metadata_has_licence_tables_columns_and_queries(demo_scan_db):
    metadata = build_metadata(demo_scan_db)
    assert metadata["title"] and metadata["license"] == "Apache-2.0" and metadata["source"]
    database = metadata["databases"][database_name(demo_scan_db)]
    assert set(database["queries"]) == EXPECTED_QUERIES
    for name, q in database["queries"].items():
        assert q["title"] and q["sql"], name
    tables = database["tables"]
    for table in ("targets", "scans", "documents", "fetches", "findings", "third_parties",
                  "cookies", "scores", "apps", "app_sdks", "app_permissions", "store_listings"):
        assert tables[table]["description"], table
    assert "evidence" in tables["findings"]["columns"]
    assert "higher is riskier" in tables["scores"]["columns"]["score"]


def test_every_table_column_has_a_description_from_the_schema_doc(demo_scan_db):
    tables = build_metadata(demo_scan_db)["databases"][database_name(demo_scan_db)]["tables"]
    db = sqlite_utils.Database(demo_scan_db)
    for table in db.table_names():
        if table.startswith("_"):
            continue
        missing = set(db[table].columns_dict) - set(tables.get(table, {}).get("columns", {}))
        assert not missing, f"{table}: no description for {sorted(missing)}"


def test_schema_doc_parser_reads_tables_and_views():
    doc = """# DB
## findings
Intro.

| column | meaning |
|---|---|
| id | finding id |
| `evidence` | the sentence \\| or request |

## Views
| view | column | meaning |
|---|---|---|
| target_risk | grade | grade in that scan |
| latest_findings | (all columns of findings) | findings |
"""
    columns = schema_column_descriptions(doc)
    assert columns["findings"] == {"id": "finding id", "evidence": "the sentence | or request"}
    assert columns["target_risk"] == {"grade": "grade in that scan"}
    assert "latest_findings" not in columns


def test_datasette_serves_the_metadata(datasette):
    metadata = get_json(datasette, "/-/metadata.json")
    assert metadata["title"] == "Child-app privacy-risk scan results"
    assert metadata["license"] == "Apache-2.0"


def test_every_canned_query_runs(datasette, demo_scan_db):
    database = build_metadata(demo_scan_db)["databases"][database_name(demo_scan_db)]
    params = {"target_id": "pixel-pals", "rule_id": sale_rule_id(demo_scan_db), "q": "sell"}
    for name, q in database["queries"].items():
        needed = set(re.findall(r"(?<!:):([a-z_]+)", q["sql"]))
        assert needed <= set(params), name
        rows = query(datasette, demo_scan_db, name, **{k: params[k] for k in needed})
        assert isinstance(rows, list), name


def test_child_ad_trackers_despite_denial(datasette, demo_scan_db):
    rows = query(datasette, demo_scan_db, "child_ad_trackers_despite_policy_denial")
    targets = {r["target_id"] for r in rows}
    assert "tiny-tunes-tv" in targets
    assert not targets & {"happy-hippo", "pixel-pals", "lost-lagoon"}
    tiny = [r for r in rows if r["target_id"] == "tiny-tunes-tv"]
    assert any("do not sell" in r["policy_says"] for r in tiny)
    assert all(r["ad_tracker_domains"] for r in tiny)


def test_data_brokers_per_target(datasette, demo_scan_db):
    rows = query(datasette, demo_scan_db, "data_brokers_per_target")
    pixel = [r for r in rows if r["target_id"] == "pixel-pals"]
    assert len({r["domain"] for r in pixel}) >= 2
    assert "happy-hippo" not in {r["target_id"] for r in rows}
    db = sqlite_utils.Database(demo_scan_db)
    expected = {(r[0], r[1]) for r in db.execute(
        "SELECT DISTINCT target_id, domain FROM third_parties WHERE is_data_broker = 1")}
    assert {(r["target_id"], r["domain"]) for r in rows} == expected


def test_latest_grade_per_target(datasette, demo_scan_db):
    rows = {r["target_id"]: r for r in query(datasette, demo_scan_db, "latest_grade_per_target")}
    scores = {r["target_id"]: r for r in sqlite_utils.Database(demo_scan_db)["scores"].rows}
    assert set(rows) == set(scores)
    for target_id, row in rows.items():
        assert (row["grade"], row["score"], row["status"]) == (
            scores[target_id]["grade"], scores[target_id]["score"], scores[target_id]["status"])
        assert row["previous_grade"] is None  # a single scan: nothing before it
    assert rows["lost-lagoon"]["status"] == "unreachable" and rows["lost-lagoon"]["grade"] is None


def test_findings_for_target(datasette, demo_scan_db):
    rows = query(datasette, demo_scan_db, "findings_for_target", target_id="pixel-pals")
    count = sqlite_utils.Database(demo_scan_db)["findings"].count_where("target_id = 'pixel-pals'")
    assert len(rows) == count
    assert rows[0]["polarity"] == "risk"
    assert any(r["category"] == "sale" and r["polarity"] == "risk" for r in rows)
    assert all(r["evidence"] for r in rows)
    assert query(datasette, demo_scan_db, "findings_for_target", target_id="nobody") == []


def test_targets_without_policy_or_unreachable(datasette, demo_scan_db):
    rows = query(datasette, demo_scan_db, "child_directed_without_policy_or_unreachable")
    assert {(r["target_id"], r["status"]) for r in rows} == {
        ("jungle-jumpers", "no_policy"), ("lost-lagoon", "unreachable")}


def test_third_parties_across_targets(datasette, demo_scan_db):
    rows = {r["domain"]: r for r in query(datasette, demo_scan_db, "third_parties_across_targets")}
    gtm = rows["googletagmanager.com"]
    assert gtm["targets"] >= 2 and "tiny-tunes-tv" in gtm["target_ids"]
    assert list(rows.values())[0]["targets"] == max(r["targets"] for r in rows.values())


def test_policy_sentences_for_rule(datasette, demo_scan_db):
    rows = query(datasette, demo_scan_db, "policy_sentences_for_rule",
                 rule_id=sale_rule_id(demo_scan_db))
    assert any(r["target_id"] == "pixel-pals" and "sell" in r["evidence"] for r in rows)


def test_policy_changed_query_is_empty_with_one_scan(datasette, demo_scan_db):
    assert query(datasette, demo_scan_db, "policy_changed_last_two_scans") == []


# --- the app queries, on a database with apps in it


@pytest.fixture(scope="module")
def apps_db(tmp_path_factory):
    """kids (child-directed): AdMob, Kidoz, Crashlytics, store says no data shared and no ads;
    family (general, store page for ages 6-8): Kidoz; grown (general, ages 18+): AdMob, store says
    no data shared; quiet (child-directed): Crashlytics. An older scan of kids carried Tapjoy."""
    from appdb import ADMOB, CRASHLYTICS, EXODUS_ONLY, KIDOZ, app_scan, finish, listing_with

    from scanner import store

    db_path = tmp_path_factory.mktemp("apps") / "apps.db"
    db = store.open_db(db_path)
    old, kids = app_scan(db, sdks=[EXODUS_ONLY])
    finish(db, old, [kids])
    scan, kids = app_scan(db, sdks=[ADMOB, KIDOZ, CRASHLYTICS], listing=listing_with(
        contains_ads=False, data_safety={"no_data_shared": True}))
    _, family = app_scan(db, target_id="family", name="Family", audience="general", sdks=[KIDOZ],
                         scan_id=scan, package="com.family",
                         listing=listing_with(contains_ads=True, target_ages=["Ages 6-8"]))
    _, grown = app_scan(db, target_id="grown", name="Grown", audience="general", sdks=[ADMOB],
                        scan_id=scan, package="com.grown", listing=listing_with(
                            contains_ads=True, target_ages=["Ages 18+"],
                            data_safety={"no_data_shared": True}))
    _, quiet = app_scan(db, target_id="quiet", name="Quiet", sdks=[CRASHLYTICS], scan_id=scan,
                        package="com.quiet")
    finish(db, scan, [kids, family, grown, quiet])
    return db_path


@pytest.fixture(scope="module")
def apps_datasette(apps_db):
    return make_datasette(apps_db)


def test_child_directed_apps_with_ad_sdks(apps_datasette, apps_db):
    rows = {r["target_id"]: r for r in query(apps_datasette, apps_db,
                                             "child_directed_apps_with_ad_sdks")}
    assert set(rows) == {"kids", "family"}, "grown is for adults; quiet has no ad SDK"
    kids = rows["kids"]
    assert (kids["ad_sdks"], kids["behavioural_ad_sdks"], kids["child_directed_by"]) == (
        2, 1, "registered")
    assert "com.google.android.gms.ads.AdView" in kids["proving_classes"]
    assert "Tapjoy" not in kids["sdks"], "only the latest scan counts"
    assert (rows["family"]["child_directed_by"], rows["family"]["behavioural_ad_sdks"]) == (
        "store page", 0)
    assert list(rows) == ["kids", "family"], "behavioural ad SDKs first"


def test_sdk_entities_by_child_apps(apps_datasette, apps_db):
    rows = {r["entity"]: r for r in query(apps_datasette, apps_db, "sdk_entities_by_child_apps")}
    assert set(rows) == {"Google", "Kidoz"}
    assert rows["Google"]["child_apps"] == 2 and set(rows["Google"]["target_ids"].split(",")) == {
        "kids", "quiet"}
    assert rows["Kidoz"]["child_apps"] == 2 and rows["Kidoz"]["has_kid_safe_ad_network"] == 1
    assert "grown" not in rows["Google"]["target_ids"]


def test_store_declarations_contradicted_by_sdks(apps_datasette, apps_db):
    rows = query(apps_datasette, apps_db, "store_declarations_contradicted_by_sdks")
    found = {(r["target_id"], r["declaration"], r["sdk"]) for r in rows}
    admob, kidoz = "Google AdMob (Google Mobile Ads SDK)", "Kidoz SDK"
    assert found == {
        ("kids", "No data shared with third parties", admob),
        ("kids", "No data shared with third parties", kidoz),
        ("kids", 'no "Contains ads" label', admob),
        ("kids", 'no "Contains ads" label', kidoz),
        ("grown", "No data shared with third parties", admob),
    }
    assert all(r["proving_class"] and r["store_url"] for r in rows)
    # the same contradictions the cross-checks found
    db = sqlite_utils.Database(apps_db)
    crosschecks = db.execute(
        "SELECT COUNT(*) FROM findings WHERE rule_id LIKE 'crosscheck.store-%' AND scan_id = "
        "(SELECT MAX(id) FROM scans)").fetchone()[0]
    assert crosschecks == len(rows)



# ---- full-text search ---------------------------------------------------------------------------

def rows_of(datasette, path):
    return get_json(datasette, path + ("&" if "?" in path else "?") + "_shape=array")


def test_search_box_finds_only_matching_rows(datasette, demo_scan_db):
    """`?_search=` uses the FTS5 indexes: only rows holding the words, Thai included."""
    name, db = database_name(demo_scan_db), sqlite_utils.Database(demo_scan_db)
    keys = {"documents": ("id",), "findings": ("id",), "sentences": ("document_id", "n")}
    for table, column, words in (("documents", "text", "ขาย"), ("documents", "text", "sell"),
                                 ("findings", "evidence", "doubleclick"),
                                 ("sentences", "text", "ขายข้อมูล"), ("sentences", "text", "sell")):
        key = keys[table]
        expected = {tuple(r) for r in db.execute(
            f"SELECT {', '.join(key)} FROM {table} WHERE instr(lower({column}), ?) > 0", [words])}
        found = {tuple(r[k] for k in key) for r in rows_of(
            datasette, f"/{name}/{table}.json?_search={urllib.parse.quote(words)}&_size=max")}
        assert found == expected and 0 < len(found) < db[table].count, (table, words)
    assert rows_of(datasette, f"/{name}/findings.json?_search=zqxwv&_col=id") == []


def test_every_policy_text_is_cut_into_its_sentences(demo_scan_db):
    db = sqlite_utils.Database(demo_scan_db)
    documents = {r["id"]: r["text"] for r in db["documents"].rows}
    by_document = {}
    for row in db["sentences"].rows:
        assert documents[row["document_id"]][row["start"]:row["end"]] == row["text"]
        by_document.setdefault(row["document_id"], []).append(row)
    assert set(by_document) == set(documents)
    for rows in by_document.values():
        rows.sort(key=lambda r: r["n"])
        assert [r["n"] for r in rows] == list(range(len(rows)))
        assert all(a["end"] <= b["start"] for a, b in zip(rows, rows[1:], strict=False))


def test_search_sentences_query_gives_the_sentence_and_its_target(datasette, demo_scan_db):
    rows = query(datasette, demo_scan_db, "search_sentences", q=urllib.parse.quote("ขายข้อมูล"))
    assert rows and {r["targets"] for r in rows} == {"dek-dee-thai"}
    assert all("ขายข้อมูล" in r["sentence"] and len(r["sentence"]) < 300 for r in rows)


def test_search_policies_query_finds_thai_words_with_their_passage(datasette, demo_scan_db):
    rows = query(datasette, demo_scan_db, "search_policies", q=urllib.parse.quote("ขายข้อมูล"))
    assert rows and {r["targets"] for r in rows} == {"dek-dee-thai"}
    assert all("[ขายข้อมูล]" in r["passage"] and r["lang"] == "th" for r in rows)
    # A quote in the words is searched for, not a syntax error.
    assert query(datasette, demo_scan_db, "search_policies", q=urllib.parse.quote('"sell')) == []


def test_findings_come_with_their_rule_description_and_references(datasette, demo_scan_db):
    from scanner.matching import load_rules

    rules = {r.id: r for r in load_rules(include_deprecated=True)}
    rows = query(datasette, demo_scan_db, "findings_with_rules", target_id="tiny-tunes-tv")
    assert rows and all(r["rule_description"] for r in rows)
    policy = [r for r in rows if r["source"] == "policy"]
    denied = [r for r in policy if r["rule_id"].endswith(".denied")]
    assert policy and denied
    for row in policy:
        base, _ = split_suffix(row["rule_id"])
        assert json.loads(row["legal_references"]) == rules[base].references, row["rule_id"]
        assert row["rule_version"] == rules[base].version
    hits = query(datasette, demo_scan_db, "search_findings", q="doubleclick")
    assert hits and all("doubleclick" in r["evidence"].lower() and r["rule_description"]
                        for r in hits)


# ---- read-only, archived and foreign files ------------------------------------------------------

def copy_database(src, dst):
    """A consistent copy (WAL content included), left in WAL mode as scans leave it."""
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    target.close()
    source.close()
    assert Path(dst).read_bytes()[18:20] == b"\x02\x02"  # WAL mode, read from the header
    assert not Path(f"{dst}-wal").exists() and not Path(f"{dst}-shm").exists()


def can_mount_read_only() -> bool:
    return bool(shutil.which("unshare")) and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


READ_ONLY_SCRIPT = r"""
set -e
mount --bind "$DIR" "$DIR"
mount -o remount,bind,ro "$DIR"
if touch "$DIR/probe" 2>/dev/null; then echo "mount is writable" >&2; exit 9; fi
"$PY" -m scanner.cli report --db "$DIR/results.db" --format json -o "$OUT/report.json"
"$PY" -m scanner.cli report --db "$DIR/results.db" --format html -o "$OUT/report.html"
"$PY" -m scanner.cli diff --db "$DIR/results.db" --format json --to 1 --from 1 > "$OUT/diff.json" 2>"$OUT/diff.err" || echo "$?" > "$OUT/diff.rc"
"$PY" -m scanner.cli status --db "$DIR/results.db" --format json > "$OUT/status.json"
"$PY" -m scanner.cli serve --db "$DIR/results.db" --port "$PORT" 2>"$OUT/serve.err" &
SERVER=$!
"$PY" - <<'PYEOF'
import os, time, urllib.request
base = f"http://127.0.0.1:{os.environ['PORT']}/results"
for _ in range(100):
    try:
        urllib.request.urlopen(base + ".json", timeout=2).read()
        break
    except OSError:
        time.sleep(0.1)
for name, path in (("serve_targets", "/targets.json?_shape=array"),
                   ("serve_search", "/documents.json?_search=sell&_shape=array&_col=id"),
                   ("serve_query", "/search_policies.json?_shape=array&q=sell")):
    with urllib.request.urlopen(base + path, timeout=10) as response:
        open(os.path.join(os.environ["OUT"], name + ".json"), "wb").write(response.read())
PYEOF
kill "$SERVER"
"""


@pytest.mark.skipif(not can_mount_read_only(), reason="needs unshare -m (root) for a read-only mount")
def test_report_diff_status_and_serve_read_a_database_on_read_only_media(demo_scan_db, tmp_path):
    """As root chmod stops nothing: the database sits on a read-only bind mount in a mount
    namespace of its own, in WAL mode with no -shm beside it (an archived copy)."""
    archive, out = tmp_path / "archive", tmp_path / "out"
    archive.mkdir()
    out.mkdir()
    copy_database(demo_scan_db, archive / "results.db")
    digest = hashlib.sha256((archive / "results.db").read_bytes()).hexdigest()
    env = {**os.environ, "DIR": str(archive), "OUT": str(out), "PY": sys.executable,
           "PORT": str(free_port()), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(["unshare", "-m", "sh", "-c", READ_ONLY_SCRIPT], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert {t["id"] for t in report["targets"]} >= {"pixel-pals", "dek-dee-thai"}
    assert all(f["rule_description"] for t in report["targets"] for f in t["findings"])
    assert "pixel-pals" in (out / "report.html").read_text(encoding="utf-8")
    assert "first scan" in (out / "diff.err").read_text() or (out / "diff.json").exists()
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["scans"][0]["id"] == report["scan"]["id"]
    served = json.loads((out / "serve_targets.json").read_text(encoding="utf-8"))
    assert {r["id"] for r in served} == {r["id"] for r in sqlite_utils.Database(
        demo_scan_db)["targets"].rows}
    assert json.loads((out / "serve_search.json").read_text(encoding="utf-8"))
    assert json.loads((out / "serve_query.json").read_text(encoding="utf-8"))
    # Nothing was written: no journal, WAL or shared-memory file, the same bytes.
    assert sorted(p.name for p in archive.iterdir()) == ["results.db"]
    assert hashlib.sha256((archive / "results.db").read_bytes()).hexdigest() == digest


def test_read_only_connection_writes_nothing(demo_scan_db, tmp_path):
    """An archived WAL database (no -wal beside it) is read with immutable=1: no -shm appears."""
    copy_database(demo_scan_db, tmp_path / "results.db")
    digest = hashlib.sha256((tmp_path / "results.db").read_bytes()).hexdigest()
    db = store.connect_read_only(tmp_path / "results.db")
    assert db["findings"].count > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("CREATE TABLE scribble (a)")
    db.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.db"]
    assert hashlib.sha256((tmp_path / "results.db").read_bytes()).hexdigest() == digest


def test_read_only_connection_reads_rows_still_in_the_wal(tmp_path):
    """A copy taken with its -wal (not yet checkpointed) is read with mode=ro, WAL rows too."""
    path = tmp_path / "live.db"
    writer = store.open_db(path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer["targets"].insert({"id": "only-in-wal", "name": "W"})
    assert Path(f"{path}-wal").stat().st_size > 0
    reader = store.connect_read_only(path)
    assert [r["id"] for r in reader["targets"].rows] == ["only-in-wal"]
    reader.close()
    writer.close()


def foreign_files(folder) -> dict:
    folder.mkdir(exist_ok=True)
    files = {"random.db": os.urandom(4096), "empty.db": b"",
             "text.db": "ข้อความภาษาไทย, not a database\n".encode()}
    paths = {}
    for name, content in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(content)
    paths["empty-sqlite.db"] = folder / "empty-sqlite.db"
    empty = sqlite3.connect(paths["empty-sqlite.db"])
    empty.execute("PRAGMA user_version = 1")  # writes the header: a SQLite file with no table
    empty.close()
    paths["other-tool.db"] = folder / "other-tool.db"
    with sqlite3.connect(paths["other-tool.db"]) as other:
        other.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        other.execute("INSERT INTO users (email) VALUES ('a@example.org')")
    other.close()
    return paths


@pytest.mark.parametrize("command", [
    ["report", "--format", "json"], ["diff"], ["status"], ["history", "--target", "x"],
    ["serve", "--port", "0"]])
def test_a_file_that_is_not_a_scanner_database_is_one_line_exit_2(tmp_path, command):
    for name, path in foreign_files(tmp_path / "first").items():
        before = path.read_bytes()
        result = invoke(command[0], "--db", path, *command[1:])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2, (name, result.output)
        assert len(lines) == 1 and str(path) in lines[0], (name, result.output)
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), name
        assert path.read_bytes() == before, f"{name} was modified"
        assert not path.with_name(path.name + "-wal").exists()
    lines = {n: invoke(command[0], "--db", p, *command[1:]).output.strip()
             for n, p in foreign_files(tmp_path / "second").items()}
    assert "not a SQLite database" in lines["random.db"]
    assert "empty file" in lines["empty.db"]
    assert "empty SQLite database" in lines["empty-sqlite.db"]
    assert "not a scanner results database" in lines["other-tool.db"] and "users" in \
        lines["other-tool.db"]
