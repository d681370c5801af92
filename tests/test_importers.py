"""One importer test per public list format, on small files written here in each format."""

import json

import pytest
import yaml
from click.testing import CliRunner

from scanner.cli import cli
from scanner.importers import ListImportError, import_list, split_network_signature
from scanner.tracker_classify import classify_request
from scanner.trackers import TrackerList


def load_imported(directory):
    """The repository's curated list plus only what the test imported."""
    return TrackerList.load(extra=[directory])


def test_disconnect_services(tmp_path):
    source = tmp_path / "services.json"
    source.write_text(json.dumps({
        "license": "Copyright Disconnect, Inc. / Licensed under the Creative Commons "
                   "Attribution-NonCommercial-ShareAlike 4.0 International license",
        "categories": {
            "Advertising": [{"Adzilla": {"https://adzilla.test/": ["adzilla.test", "adz-cdn.test"]}}],
            "Analytics": [{"Replayr": {"https://replayr.test/": ["replayr.test"], "session-replay": "true"}}],
            "FingerprintingInvasive": [{"Printy": {"https://printy.test": ["printy.test"]}}],
        },
    }), encoding="utf-8")
    out = tmp_path / "rules"
    result = import_list("disconnect", source, out)
    assert (result.name, result.entities, result.domains) == ("disconnect", 3, 4)
    assert result.license == "CC-BY-NC-SA-4.0"
    data = yaml.safe_load((out / "disconnect.yaml").read_text(encoding="utf-8"))
    assert data["source"] == "disconnect" and data["format"] == "disconnect"
    assert data["imported_from"] == str(source) and len(data["sha256"]) == 64
    assert "NonCommercial" in data["license_notice"]
    trackers = load_imported(out)
    info = trackers.lookup("ads.adz-cdn.test")
    assert (info.entity, info.category, info.rule_id) == ("Adzilla", "advertising", "disconnect:Advertising/Adzilla")
    assert (info.source, info.license, info.version) == ("disconnect", "CC-BY-NC-SA-4.0", result.version)
    assert trackers.lookup("replayr.test").category == "session_replay"
    assert trackers.lookup("printy.test").category == "fingerprinting"


def test_disconnect_entities_file_groups_domains(tmp_path):
    source = tmp_path / "entities.json"
    source.write_text(json.dumps({"license": "x", "entities": {
        "Bigco": {"properties": ["bigco.test", "bigco-news.test"], "resources": ["bigco-metrics.test"]}}}),
        encoding="utf-8")
    import_list("disconnect", source, tmp_path / "rules")
    trackers = load_imported(tmp_path / "rules")
    assert trackers.entity_of("www.bigco-news.test") == "Bigco"
    assert trackers.lookup("bigco-metrics.test") is None  # grouping, not a tracker rule
    from scanner.trackers import is_third_party
    assert not is_third_party("bigco-metrics.test", "www.bigco-news.test", trackers)


def test_ddg_tds(tmp_path):
    source = tmp_path / "tds.json"
    source.write_text(json.dumps({
        "_builtWith": {"tracker-radar": "0123456789abcdef-xyz"},
        "trackers": {
            "trackco.test": {"domain": "trackco.test", "owner": {"name": "Trackco Ads", "displayName": "Trackco Ads", "ownedBy": "Trackco Inc."},
                             "categories": ["Ad Motivated Tracking", "Advertising"], "fingerprinting": 2, "default": "block", "rules": []},
            "printer.test": {"domain": "printer.test", "owner": {"name": "Printer LLC", "displayName": "Printer"},
                             "categories": [], "fingerprinting": 3, "default": "ignore"},
            "fastcdn.test": {"domain": "fastcdn.test", "owner": {"name": "Fast CDN"}, "categories": ["Content Delivery"]},
        },
        "entities": {"Trackco Inc.": {"domains": ["trackco.test", "trackco-shop.test"], "displayName": "Trackco"}},
        "domains": {"trackco.test": "Trackco Inc.", "trackco-shop.test": "Trackco Inc."},
    }), encoding="utf-8")
    result = import_list("ddg", source, tmp_path / "rules")
    assert result.version == "tracker-radar 0123456789ab" and result.license == "CC-BY-NC-SA-4.0"
    trackers = load_imported(tmp_path / "rules")
    info = trackers.lookup("px.trackco.test")
    assert (info.entity, info.category, info.rule_id) == ("Trackco", "advertising", "ddg:trackco.test")
    assert trackers.lookup("printer.test").category == "fingerprinting"
    assert trackers.lookup("fastcdn.test").category == "cdn"
    assert trackers.entity_of("trackco-shop.test") == "Trackco"


def test_exodus_trackers(tmp_path):
    source = tmp_path / "exodus.json"
    source.write_text(json.dumps([{
        "1": {"id": 1, "name": "Kiddo Ads", "creation_date": "2021-03-01", "code_signature": "com.kiddo.ads",
              "network_signature": "kiddoads\\.test|\\.kiddo-cdn\\.test|kiddometrics", "website": "https://kiddo.test",
              "categories": ["Advertisement", "Analytics"]},
        "2": {"id": 2, "name": "Crashy", "creation_date": "2023-12-05", "code_signature": "com.crashy",
              "network_signature": "", "categories": ["Crash reporting"]},
    }]), encoding="utf-8")
    result = import_list("exodus", source, tmp_path / "rules")
    assert (result.entities, result.skipped, result.version) == (1, 1, "2023-12-05")
    assert result.license.startswith("ODbL")
    trackers = load_imported(tmp_path / "rules")
    info = trackers.lookup("sdk.kiddo-cdn.test")
    assert (info.entity, info.category, info.rule_id) == ("Kiddo Ads", "advertising", "exodus:1")
    assert trackers.lookup("api.kiddometrics.test").rule_id == "exodus:1"  # a host pattern


def test_exodus_network_signature_split():
    assert split_network_signature("2mdn\\.net|doubleclick\\.net|fidzup") == (
        ["2mdn.net", "doubleclick.net"], ["fidzup"])


def test_abp_filter_list_is_referenced_and_matched(tmp_path):
    source = tmp_path / "tinyprivacy.txt"
    source.write_text(
        "[Adblock Plus 2.0]\n! Version: 202601011200\n! Title: TinyPrivacy\n"
        "! Licence: https://tiny.test/licence\n! comment line\n"
        "||beacon.tinytrack.test^\n/collect-pixel.gif?$image\n@@||beacon.tinytrack.test/allowed/\n"
        "example.test##.ad-banner\n", encoding="utf-8")
    out = tmp_path / "rules"
    result = import_list("abp", source, out)
    assert (result.name, result.version, result.license) == (
        "abp-tinyprivacy", "202601011200", "https://tiny.test/licence")
    data = yaml.safe_load((out / "abp-tinyprivacy.yaml").read_text(encoding="utf-8"))
    assert data["filter_list"] == str(source) and data["filters"] == 3
    assert data["category"] == "analytics"  # 'privacy' in the title
    trackers = load_imported(out)
    page = "https://kids.example/"
    info, rule_id, list_source = classify_request(trackers, "https://beacon.tinytrack.test/b?x=1", page, "script")
    assert rule_id == "abp:||beacon.tinytrack.test^" and list_source == "abp-tinyprivacy"
    assert info.entity == "tinytrack.test" and info.version == "202601011200"
    _, rule_id, _ = classify_request(trackers, "https://any.test/collect-pixel.gif?u=1", page, "img.pixel")
    assert rule_id == "abp:/collect-pixel.gif?$image"
    _, rule_id, _ = classify_request(trackers, "https://any.test/collect-pixel.gif?u=1", page, "script")
    assert rule_id is None, "an $image filter does not match a script"
    _, rule_id, _ = classify_request(trackers, "https://beacon.tinytrack.test/allowed/x.js", page, "script")
    assert rule_id is None, "an @@ exception wins"
    # A host an entity list knows is classified by that list, not by a filter.
    _, rule_id, _ = classify_request(trackers, "https://www.google-analytics.com/collect", page, "img")
    assert rule_id == "curated:google-analytics"


def test_cli_import_writes_the_rules_file_and_reports(tmp_path):
    source = tmp_path / "services.json"
    source.write_text(json.dumps({"categories": {"Social": [{"Chirp": {"https://chirp.test": ["chirp.test"]}}]}}),
                      encoding="utf-8")
    out = tmp_path / "rules"
    result = CliRunner().invoke(cli, ["trackers", "import", "--format", "disconnect", str(source),
                                      "--out-dir", str(out), "--name", "dc-test", "--list-version", "v9"])
    assert result.exit_code == 0, result.output
    assert "imported 1 entries, 1 domains" in result.output and "version v9" in result.output
    data = yaml.safe_load((out / "dc-test.yaml").read_text(encoding="utf-8"))
    assert data["version"] == "v9" and data["license"] == "CC-BY-NC-SA-4.0"  # the publisher's


@pytest.mark.parametrize("fmt, content, message", [
    ("ddg", "[1, 2]", "not a DuckDuckGo TDS file"),
    ("disconnect", "{not json", "not valid JSON"),
    ("exodus", "{}", "not an Exodus trackers file"),
    ("abp", "! only comments\n", "no network filters"),
])
def test_cli_import_of_the_wrong_format_is_one_line_exit_2(tmp_path, fmt, content, message):
    source = tmp_path / "list.txt"
    source.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(cli, ["trackers", "import", "--format", fmt, str(source),
                                      "--out-dir", str(tmp_path / "rules")])
    assert result.exit_code == 2
    assert message in result.output and str(source) in result.output
    assert not (tmp_path / "rules").exists() or not list((tmp_path / "rules").iterdir())


def test_import_rejects_unknown_category(tmp_path):
    source = tmp_path / "l.txt"
    source.write_text("||x.test^\n", encoding="utf-8")
    with pytest.raises(ListImportError, match="--category 'spying' unknown"):
        import_list("abp", source, tmp_path, category="spying")
