"""`scanner trackers update`: lists served on loopback in each publisher's format, imported with
their provenance; a failing list leaves the previous import as it was; the address guard holds."""

import hashlib
import json
import time

import pytest
import yaml

from helpers import invoke
from scanner import list_update, store
from scanner.list_update import (ListUpdateError, download, read_list_header, record_tracker_lists,
                                 tracker_rule_files)
from scanner.trackers import TrackerList

# Small lists written for these tests in each publisher's format (not copies of the real ones).
DISCONNECT = json.dumps({
    "license": "Copyright 2010-2026 Disconnect, Inc. This work is licensed under the Creative "
               "Commons Attribution-NonCommercial-ShareAlike 4.0 International License.",
    "categories": {"Advertising": [{"Loopback Ads": {"https://loopback-ads.test/": ["loopads.test"]}}],
                   "Analytics": [{"Loopback Stats": {"https://stats.test/": ["loopstats.test"]}}]},
})
DDG = json.dumps({
    "version": "2026.12.01",
    "trackers": {"ddgtracker.test": {"domain": "ddgtracker.test", "default": "block", "prevalence": 0.2,
                                     "owner": {"name": "Ddg Tracker Ltd", "displayName": "Ddg Tracker"},
                                     "categories": ["Advertising"]}},
    "entities": {"Ddg Tracker Ltd": {"domains": ["ddgtracker.test"], "displayName": "Ddg Tracker",
                                     "prevalence": 1.0}},
    "domains": {"ddgtracker.test": "Ddg Tracker Ltd"},
})
EASYPRIVACY = ("[Adblock Plus 2.0]\n! Version: 202612010930\n! Title: EasyPrivacy\n"
               "! License: https://easylist.to/pages/licence.html\n"
               "! Homepage: https://easylist.to/\n||pixel-counter.test^\n/beacon.gif?\n")
EXODUS = json.dumps({"trackers": {"901": {
    "id": 901, "name": "Loopback SDK", "description": "", "creation_date": "2026-11-30",
    "code_signature": "com.loopback.sdk", "network_signature": "sdk\\.loopback-sdk\\.test",
    "website": "https://loopback-sdk.test/", "categories": ["Analytics"], "documentation": []}}})

BODIES = {"/services.json": DISCONNECT, "/tds.json": DDG, "/easyprivacy.txt": EASYPRIVACY,
          "/trackers": EXODUS}
PATHS = {"disconnect": "/services.json", "ddg": "/tds.json", "easyprivacy": "/easyprivacy.txt",
         "exodus": "/trackers"}


def served(site, **overrides):
    return [arg for name, path in PATHS.items()
            for arg in ("--source", f"{name}={overrides.get(name, site.url + path)}")]


def update(out_dir, *args):
    return invoke(*["trackers", "update", "--out-dir", str(out_dir), *args])


@pytest.fixture
def lists_site(loopback_site):
    return loopback_site({path: (200, {"Content-Type": "application/json"}, body)
                          for path, body in BODIES.items()})


def test_update_imports_each_list_with_licence_and_provenance(lists_site, tmp_path):
    out = tmp_path / "imported"
    result = update(out, *served(lists_site))
    assert result.exit_code == 0, result.output + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["disconnect", "ddg", "easyprivacy", "exodus"]
    assert "non-commercial" in lines[0] and "non-commercial" in lines[1]
    assert "GPL-3.0-or-later OR CC-BY-SA-3.0" in lines[2] and "ODbL-1.0" in lines[3]
    for name, path in PATHS.items():
        header = read_list_header(out / f"{name}.yaml")
        assert header["source"] == name
        assert header["imported_from"] == lists_site.url + path
        assert header["sha256"] == hashlib.sha256(BODIES[path].encode()).hexdigest()
        assert header["imported_at"].endswith("+00:00")
    assert read_list_header(out / "ddg.yaml")["version"] == "2026.12.01"
    assert str(read_list_header(out / "easyprivacy.yaml")["version"]) == "202612010930"
    assert "NonCommercial" in read_list_header(out / "disconnect.yaml")["license"] or \
        read_list_header(out / "disconnect.yaml")["license"] == "CC-BY-NC-SA-4.0"

    trackers = TrackerList.load(extra=[out])
    assert (trackers.lookup("x.loopads.test").source, trackers.lookup("x.loopads.test").entity) == \
        ("disconnect", "Loopback Ads")
    assert trackers.lookup("ddgtracker.test").entity == "Ddg Tracker"
    assert trackers.lookup("sdk.loopback-sdk.test").source == "exodus"
    abp, rule = trackers.match_filters("https://pixel-counter.test/p.gif", "https://kids.test/", "image")
    assert (abp.name, rule) == ("easyprivacy", "||pixel-counter.test^")
    assert abp.path.is_file()   # the filter list a scan matches with is kept, not a temp file


def test_only_updates_the_lists_named(lists_site, tmp_path):
    out = tmp_path / "imported"
    result = update(out, "--only", "ddg", *served(lists_site))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.yaml")) == ["ddg.yaml"]
    assert lists_site.requests == ["/tds.json"]


@pytest.mark.parametrize("broken", [
    (404, {}, "gone"),
    (200, {"Content-Type": "application/json"}, "{not json"),
    (200, {"Content-Type": "application/json"}, json.dumps({"categories": {}})),  # Disconnect, not TDS
])
def test_a_failing_list_is_one_line_and_keeps_the_previous_copy(lists_site, loopback_site, tmp_path, broken):
    out = tmp_path / "imported"
    assert update(out, *served(lists_site)).exit_code == 0
    before = (out / "ddg.yaml").read_bytes()
    easyprivacy_before = read_list_header(out / "easyprivacy.yaml")

    bad = loopback_site({"/tds.json": broken})
    result = update(out, *served(lists_site, ddg=bad.url + "/tds.json"))
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("ddg: failed: ")
    assert "kept the previous copy (version 2026.12.01)" in errors[0]
    assert (out / "ddg.yaml").read_bytes() == before
    # The other lists were updated all the same; the unchanged filter list is still there.
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["disconnect", "easyprivacy", "exodus"]
    assert read_list_header(out / "easyprivacy.yaml")["filter_list"] == easyprivacy_before["filter_list"]
    assert (out / "downloads").is_dir() and not list((out / "downloads").glob("ddg-*.part"))


def test_changed_filter_list_replaces_the_old_download(lists_site, loopback_site, tmp_path):
    out = tmp_path / "imported"
    assert update(out, "--only", "easyprivacy", *served(lists_site)).exit_code == 0
    first = read_list_header(out / "easyprivacy.yaml")["filter_list"]
    newer = loopback_site({"/easyprivacy.txt": EASYPRIVACY.replace("202612010930", "202612020930")
                           + "||another-counter.test^\n"})
    result = update(out, "--only", "easyprivacy", "--source", f"easyprivacy={newer.url}/easyprivacy.txt")
    assert result.exit_code == 0, result.stderr
    header = read_list_header(out / "easyprivacy.yaml")
    assert str(header["version"]) == "202612020930" and header["filter_list"] != first
    assert [p.name for p in (out / "downloads").iterdir()] == [header["filter_list"].rsplit("/", 1)[-1]]


def test_bad_arguments_exit_2(tmp_path):
    assert update(tmp_path, "--only", "ghostery").exit_code == 2
    result = update(tmp_path, "--source", "ddg")
    assert result.exit_code == 2 and "NAME=URL" in result.output
    assert update(tmp_path, "--source", "adguard=http://127.0.0.1/x").exit_code == 2


def test_non_loopback_source_refused_before_any_connection(tmp_path):
    # Under SCANNER_LOOPBACK_ONLY (set for the whole suite) nothing is resolved or connected.
    result = update(tmp_path, "--only", "ddg", "--source", "ddg=https://staticcdn.duckduckgo.com/x.json")
    assert result.exit_code == 1
    assert "https://staticcdn.duckduckgo.com/x.json: refused" in result.stderr
    assert "network guard" not in result.stderr
    result = update(tmp_path, "--only", "ddg", "--source", "ddg=http://169.254.169.254/latest")
    assert "link-local" in result.stderr


def test_redirect_to_link_local_refused(loopback_site, tmp_path):
    site = loopback_site({"/tds.json": (302, {"Location": "http://169.254.169.254/latest/meta-data"}, "")})
    with pytest.raises(ListUpdateError, match="redirect to http://169.254.169.254/.* refused: .*link-local"):
        download(site.url + "/tds.json", tmp_path / "tds.json")
    assert not (tmp_path / "tds.json").exists()


def test_guard_outside_loopback_mode(monkeypatch):
    monkeypatch.setenv("SCANNER_LOOPBACK_ONLY", "0")
    assert "private or loopback" in list_update.address_check(False)("http://127.0.0.1:9/x")
    assert list_update.address_check(True)("http://127.0.0.1:9/x") is None
    assert "link-local" in list_update.address_check(True)("http://[fe80::1]/x")
    assert "scheme" in list_update.address_check(False)("file:///etc/passwd")


def test_download_size_limit_and_timeout(loopback_site, tmp_path):
    big = "x" * 5000

    def slow():
        time.sleep(1.5)
        return "late"

    site = loopback_site({"/big": big, "/slow": slow})
    with pytest.raises(ListUpdateError, match="over the limit of 1000 bytes"):
        download(site.url + "/big", tmp_path / "big", max_bytes=1000)
    with pytest.raises(ListUpdateError, match="timed out|not downloaded within"):
        download(site.url + "/slow", tmp_path / "slow", timeout=0.5)
    assert list(tmp_path.iterdir()) == []   # no partial file left behind
    assert download(site.url + "/big", tmp_path / "big", max_bytes=5000) == \
        hashlib.sha256(big.encode()).hexdigest()


def test_record_tracker_lists_names_each_list_and_version(lists_site, tmp_path):
    out = tmp_path / "imported"
    assert update(out, *served(lists_site)).exit_code == 0
    files = tracker_rule_files(extra=[out])
    trackers = TrackerList.load(extra=[out])
    db = store.open_db(tmp_path / "results.db")
    scan_id = store.start_scan(db, rules_version="r", targets_file="t.yaml", options={})
    record_tracker_lists(db, scan_id, trackers, files)
    rows = {r["name"]: r for r in db["tracker_lists"].rows_where("scan_id = ?", [scan_id])}
    assert {"curated", "disconnect", "ddg", "easyprivacy", "exodus"} <= set(rows)
    assert rows["ddg"]["version"] == "2026.12.01"
    assert rows["ddg"]["source_url"] == lists_site.url + "/tds.json"
    assert rows["ddg"]["fetched_at"] == read_list_header(out / "ddg.yaml")["imported_at"]
    assert rows["ddg"]["license"] == "CC-BY-NC-SA-4.0"
    assert rows["curated"]["source_url"] is None and rows["curated"]["license"] == "Apache-2.0"
    assert rows["curated"]["load_order"] < rows["ddg"]["load_order"]
    # Recording again for the same scan replaces, never duplicates.
    record_tracker_lists(db, scan_id, trackers, files)
    assert db["tracker_lists"].count_where("scan_id = ?", [scan_id]) == len(rows)


def test_provenance_is_in_the_imported_file_header(lists_site, tmp_path):
    out = tmp_path / "imported"
    assert update(out, "--only", "exodus", *served(lists_site)).exit_code == 0
    data = yaml.safe_load((out / "exodus.yaml").read_text(encoding="utf-8"))
    assert data["imported_from"].endswith("/trackers") and data["entities"][0]["name"] == "Loopback SDK"
    assert (out / "exodus.yaml").read_text(encoding="utf-8").startswith(
        "# Downloaded by `scanner trackers update` from http://127.0.0.1:")
    # The licence terms are in the header, read without parsing the entities below it.
    assert "share a derived database alike" in read_list_header(out / "exodus.yaml")["license_notice"]
    # The APK signatures the Exodus import keeps beside the web list arrive with it.
    signatures = json.loads((out / "exodus.sdk-signatures.json").read_text(encoding="utf-8"))
    assert signatures["imported_from"] == data["imported_from"]
    assert "com.loopback.sdk" in json.dumps(signatures["sdk_signatures"])
