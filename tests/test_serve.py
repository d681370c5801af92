"""`scanner serve`: Datasette metadata loads, and every canned query answers on a real scan."""

import asyncio
import re

import pytest
import sqlite_utils

from scanner.serve import build_metadata, database_name, make_datasette, schema_column_descriptions

EXPECTED_QUERIES = {
    "child_ad_trackers_despite_policy_denial", "data_brokers_per_target", "latest_grade_per_target",
    "policy_changed_last_two_scans", "findings_for_target",
    "child_directed_without_policy_or_unreachable", "third_parties_across_targets",
    "policy_sentences_for_rule", "child_directed_apps_with_ad_sdks", "sdk_entities_by_child_apps",
    "store_declarations_contradicted_by_sdks",
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
    params = {"target_id": "pixel-pals", "rule_id": sale_rule_id(demo_scan_db)}
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

