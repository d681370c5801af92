"""Cross-checks on a database filled by hand: what the pages load against what the policy says."""

import pytest

from scanner import store
from scanner.crosscheck import crosscheck_findings
from scanner.matching import classify, load_rules
from scanner.targets import Target
from scanner.trackers import TrackerList

PAGE = "https://kids.example/"
POLICY_URL = "https://kids.example/privacy"


@pytest.fixture
def db(tmp_path):
    return store.open_db(tmp_path / "x.db")


def scan_with(db, *, audience="child-directed", policy=None, requests=()):
    """A scan of one target: its policy text (run through the real policy rules) and its requests."""
    target = Target(id="kids", name="Kids Club", audience=audience, homepage=PAGE)
    scan_id = store.start_scan(db, rules_version="test", targets_file="t.yaml", options={})
    store.upsert_targets(db, [target], scan_id)
    if policy is not None:
        document_id, _ = store.store_document(db, text=policy, content_type="text/html", lang="en",
                                              title="Privacy", scan_id=scan_id, url=POLICY_URL)
        db["fetch_rows"].insert({"scan_id": scan_id, "target_id": "kids", "url": POLICY_URL,
                              "final_url": POLICY_URL, "kind": "policy", "status": 200,
                              "document_id": document_id})
        db["scan_findings"].insert_all([
            {"scan_id": scan_id, "target_id": "kids", "source": "policy", "rule_id": f.rule_id,
             "category": f.category, "practice": f.practice, "severity": f.severity,
             "polarity": f.polarity, "evidence": f.evidence, "document_id": document_id,
             "start": f.start, "end": f.end, "url": POLICY_URL}
            for f in classify(policy, load_rules(), lang="en")
        ])
    db["third_party_rows"].insert_all([
        {"scan_id": scan_id, "target_id": "kids", "page_url": PAGE, "request_url": url,
         "host": url.split("/")[2], "domain": domain, "entity": entity, "category": category,
         "is_data_broker": int(broker), "via": "script", "rule_id": "test"}
        for url, domain, entity, category, broker in requests
    ])
    return scan_id, target


TRACKERS = TrackerList.load(extra=[])


def run(db, scan_id, target):
    rows = crosscheck_findings(db, scan_id, target, TRACKERS)
    assert all(r["source"] == "crosscheck" and r["evidence"] for r in rows)
    return rows


META = ("https://connect.facebook.net/en_US/fbevents.js", "facebook.net", "Meta", "advertising", False)
BLUEKAI = ("https://tags.bluekai.com/site/1", "bluekai.com", "Oracle", "data_broker", True)
HOTJAR = ("https://static.hotjar.com/c/hotjar-1.js", "hotjar.com", "Hotjar", "session_replay", False)
KIDOZ = ("https://sdk.kidoz.net/x.js", "kidoz.net", "Kidoz", "advertising", False)
CDN = ("https://d1.cloudfront.net/app.js", "d1.cloudfront.net", "Amazon", "cdn", False)


def by_rule(rows, rule_id):
    return [r for r in rows if r["rule_id"] == rule_id]


def test_entity_the_policy_never_names_or_describes(db):
    policy = "We collect your email address to run the service. You may contact us at any time."
    scan_id, target = scan_with(db, audience="general", policy=policy, requests=[META, HOTJAR, CDN])
    rows = by_rule(run(db, scan_id, target), "crosscheck.undisclosed-third-party")
    assert {r["evidence"].split(" sends requests to ")[1].split(":")[0] for r in rows} == {
        "Meta (advertising)", "Hotjar (session_replay)"}
    meta = next(r for r in rows if "Meta" in r["evidence"])
    assert meta["severity"] == "high" and META[0] in meta["evidence"] and POLICY_URL in meta["evidence"]
    assert meta["url"] == PAGE


def test_naming_or_describing_the_entity_discloses_it(db):
    policy = ("We use the Facebook pixel to measure our campaigns. "
              "Some pages record sessions with a session replay tool.")
    scan_id, target = scan_with(db, audience="general", policy=policy, requests=[META, HOTJAR])
    assert by_rule(run(db, scan_id, target), "crosscheck.undisclosed-third-party") == []


def test_a_denial_does_not_describe_the_partners_it_denies(db):
    scan_id, target = scan_with(db, audience="general", policy="We do not show ads.", requests=[META])
    (row,) = by_rule(run(db, scan_id, target), "crosscheck.undisclosed-third-party")
    assert "Meta (advertising)" in row["evidence"]
    scan_id, target = scan_with(db, audience="general", policy="Ad partners show ads here.",
                                requests=[META])
    assert by_rule(run(db, scan_id, target), "crosscheck.undisclosed-third-party") == []


def test_no_policy_means_no_undisclosed_finding(db):
    scan_id, target = scan_with(db, audience="general", policy=None, requests=[META])
    assert by_rule(run(db, scan_id, target), "crosscheck.undisclosed-third-party") == []


def test_denial_contradicted_by_ad_and_broker_trackers(db):
    policy = ("We do not sell your personal information. "
              "We use Facebook and Oracle BlueKai services. Hotjar helps us.")
    scan_id, target = scan_with(db, audience="general", policy=policy, requests=[META, BLUEKAI, HOTJAR])
    rows = by_rule(run(db, scan_id, target), "crosscheck.denial-contradicted")
    assert rows, "the policy's denial must be held against the ad and broker trackers"
    # Other categories may read the same sentence as a denial too (sharing by selling).
    sale = [r for r in rows if r["category"] == "sale"]
    entities = sorted(("Meta" in r["evidence"], "Oracle" in r["evidence"]) for r in sale)
    assert entities == [(False, True), (True, False)], "one row per ad or broker entity"
    for r in rows:
        assert r["severity"] == "high" and r["document_id"]
        text = db["documents"].get(r["document_id"])["text"]
        assert text[r["start"]:r["end"]].strip() == "We do not sell your personal information."
        assert "We do not sell your personal information." in r["evidence"]
    assert not any("Hotjar" in r["evidence"] for r in rows)


def test_no_denial_no_contradiction(db):
    policy = "We may sell your personal information to our partners. We use Facebook."
    scan_id, target = scan_with(db, audience="general", policy=policy, requests=[META])
    assert by_rule(run(db, scan_id, target), "crosscheck.denial-contradicted") == []


def test_ad_trackers_on_a_child_directed_target_are_critical(db):
    scan_id, target = scan_with(db, policy="We use Facebook, Oracle, Hotjar and Kidoz.",
                                requests=[META, BLUEKAI, HOTJAR, KIDOZ, CDN])
    rows = by_rule(run(db, scan_id, target), "crosscheck.child-directed-ad-tracker")
    assert {r["category"] for r in rows} == {"behavioral_ads", "sale"}
    assert all(r["severity"] == "critical" for r in rows)
    evidence = " ".join(r["evidence"] for r in rows)
    assert "Meta" in evidence and "Oracle" in evidence and META[0] in evidence
    assert "Kidoz" not in evidence, "a kid-safe ad network is not a behavioural-ad tracker"
    assert "Hotjar" not in evidence and "Amazon" not in evidence


def test_the_same_trackers_on_a_general_audience_target_are_not_child_findings(db):
    scan_id, target = scan_with(db, audience="general", policy="We use Facebook.", requests=[META])
    assert by_rule(run(db, scan_id, target), "crosscheck.child-directed-ad-tracker") == []


def test_child_directed_target_whose_policy_disclaims_children(db):
    policy = "Kids Club is not directed to children under 13. We do not sell your data."
    scan_id, target = scan_with(db, policy=policy)
    rows = by_rule(run(db, scan_id, target), "crosscheck.child-directed-disclaimer")
    assert len(rows) == 1
    row = rows[0]
    assert row["category"] == "children" and row["polarity"] == "risk"
    text = db["documents"].get(row["document_id"])["text"]
    assert "not directed to children" in text[row["start"]:row["end"]]
    general_scan, general = scan_with(db, audience="general", policy=policy)
    assert by_rule(run(db, general_scan, general), "crosscheck.child-directed-disclaimer") == []


def test_a_thai_policy_describing_advertising_partners_discloses_an_ad_tracker():
    import re

    from scanner.crosscheck import CATEGORY_DESCRIPTIONS, GENERIC_DESCRIPTION

    thai_policy = "เราอาจเปิดเผยข้อมูลส่วนบุคคลของท่านให้แก่พันธมิตรทางธุรกิจเพื่อวัตถุประสงค์ทางการโฆษณา"
    assert re.search(CATEGORY_DESCRIPTIONS["advertising"], thai_policy, re.I)
    assert not re.search(CATEGORY_DESCRIPTIONS["analytics"], thai_policy, re.I)
    assert re.search(GENERIC_DESCRIPTION, "เราอาจเปิดเผยข้อมูลแก่บุคคลภายนอก", re.I)


@pytest.mark.crawl
def test_a_bare_scrapy_crawl_site_is_a_scan_that_is_cross_checked_and_scored(loopback_site, tmp_path):
    """No `scanner scan`: the ScanLifecycle extension opens the scan, then cross-checks, scores
    and finishes it when the spider closes."""
    import sqlite_utils

    from helpers import run_scrapy_crawl, write_targets

    site = loopback_site({
        "/": '<html><body><script src="https://connect.facebook.net/en_US/fbevents.js"></script>'
             "<p>Colouring games</p></body></html>",
        "/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nAllow: /\n"),
    })
    targets = write_targets(tmp_path / "targets.yaml", {
        "id": "colour-club", "name": "Colour Club", "audience": "child-directed",
        "homepage": site.url + "/"})
    db_path = tmp_path / "bare.db"
    result = run_scrapy_crawl("site", targets, db_path)
    assert result.returncode == 0, result.stderr[-2000:]
    db = sqlite_utils.Database(db_path)
    (scan,) = db["scans"].rows
    assert scan["status"] == "complete" and scan["finished_at"]
    (target,) = db["targets"].rows
    assert (target["id"], target["last_seen_scan"]) == ("colour-club", scan["id"])
    (party,) = db["third_parties"].rows
    assert (party["entity"], party["category"]) == ("Meta", "advertising")
    rules = {(f["source"], f["rule_id"]) for f in db["findings"].rows_where("scan_id = ?", [scan["id"]])}
    assert ("tracker", "curated:meta") in rules
    assert ("crosscheck", "crosscheck.child-directed-ad-tracker") in rules
    (score,) = db["scores"].rows
    assert score["target_id"] == "colour-club" and score["status"] == "no_policy"
    assert score["score"] >= 30  # the critical cross-check finding counted


def test_a_party_is_named_in_any_case_even_by_letters_case_folding_equates_with_ascii():
    from scanner.crosscheck import _mentions

    assert _mentions("We work with KIDZ ADS.", ["Kidz Ads"])
    assert _mentions("We work with \u212aidz Ads.", ["Kidz Ads"])  # KELVIN SIGN folds to k
    assert _mentions("Partners: \u0130con Media", ["icon media"])
    assert not _mentions("We use Kidz Adsense.", ["Kidz Ads"])  # not as a whole word
    assert not _mentions("We share nothing.", ["Kidz Ads"])
