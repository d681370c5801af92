"""The risk score (docs/scoring.md): distinct facts, category caps, escalation, safeguards."""

import json

import pytest

from scanner import scoring
from scanner.matching import classify, load_rules
from scanner.scoring import (
    CATEGORY_CAPS, NO_POLICY_POINTS, OVERFLOW_LIMIT, SAFEGUARD_CAP, SEVERITY_POINTS, grade_for,
    score_target,
)
from scanner.store import open_db
from scanner.targets import Target

KIDS = Target(id="t", name="T", audience="child-directed", homepage="https://t.example/")
GENERAL = Target(id="t", name="T", audience="general", homepage="https://t.example/")


@pytest.fixture
def db(tmp_path):
    db = open_db(tmp_path / "s.db")
    db["scans"].insert({"id": 1, "status": "running"})
    return db


@pytest.fixture
def scored_db(db):
    """A reachable target with a policy document: findings decide the score."""
    fetch(db)
    fetch(db, kind="policy", document_id=1)
    return db


def fetch(db, kind="page", status=200, error=None, document_id=None):
    db["fetch_rows"].insert({"scan_id": 1, "target_id": "t", "url": "https://t.example/", "kind": kind,
                          "status": status, "error": error, "document_id": document_id})


def finding(db, rule_id, severity, polarity="risk", source="policy", category=None,
            sentence=None, data_types=(), evidence=None):
    """One findings row; `sentence` (a number) places it on a sentence of document 1."""
    start = None if sentence is None else sentence * 100
    return db["scan_findings"].insert({
        "scan_id": 1, "target_id": "t", "source": source, "rule_id": rule_id,
        "category": category or rule_id.split(".")[0], "practice": rule_id.split(".", 1)[-1],
        "severity": severity, "polarity": polarity, "data_types": json.dumps(list(data_types)),
        "evidence": evidence or f"evidence for {rule_id}",
        "document_id": None if sentence is None else 1, "start": start,
        "end": None if start is None else start + 80,
    }).last_pk


def tracker(db, rule_id, category="behavioral_ads", severity="high", page="/"):
    finding(db, rule_id, severity, source="tracker", category=category,
            evidence=f"script https://{rule_id}.example/t.js on {page}")


def score(db, target=KIDS):
    row = score_target(db, 1, target)
    return row["score"], json.loads(row["explanation"])


def delete(db, rule_id):
    db.execute("DELETE FROM scan_findings WHERE rule_id = ?", [rule_id])


def bad_site(db):
    """Findings in every category, several past their caps: an F site."""
    for i in range(6):
        tracker(db, f"curated:ads{i}")
    for i in range(3):
        tracker(db, f"curated:broker{i}", category="sale")
        tracker(db, f"curated:analytics{i}", category="tracking", severity="medium")
    finding(db, "sale.personal-data", "high", sentence=1)
    finding(db, "collection.precise-location", "high", sentence=2, data_types=["precise_location"])
    finding(db, "collection.photos", "medium", sentence=3, data_types=["photos"])
    finding(db, "third_party_sharing.advertisers", "high", sentence=4)
    finding(db, "retention.indefinite", "medium", sentence=5)
    finding(db, "transfer.abroad", "medium", sentence=6)


def test_unreachable_target_has_no_score_and_says_why(db):
    fetch(db, status=None, error="DNS lookup failed")
    row = score_target(db, 1, KIDS)
    assert row["status"] == "unreachable" and row["score"] is None and row["grade"] is None
    assert "DNS lookup failed" in json.loads(row["explanation"])["errors"][0]


def test_http_error_only_is_unreachable(db):
    fetch(db, status=503, error="HTTP 503")
    assert score_target(db, 1, KIDS)["status"] == "unreachable"


def test_missing_policy_adds_points_and_status(db):
    fetch(db)
    row = score_target(db, 1, KIDS)
    assert row["status"] == "no_policy"
    assert row["score"] == NO_POLICY_POINTS
    assert json.loads(row["explanation"])["contributions"][0]["rule_id"] == "policy.missing"


def test_a_sentence_firing_five_rules_counts_once_at_its_highest(scored_db):
    ids = [finding(scored_db, rule, severity, sentence=1) for rule, severity in (
        ("third_party_sharing.advertisers", "high"), ("third_party_sharing.disclosure", "low"),
        ("behavioral_ads.ad-serving", "medium"), ("tracking.cross-device", "high"),
        ("tracking.cookies", "low"))]
    points, explanation = score(scored_db, GENERAL)
    (fact,) = explanation["contributions"]
    assert points == fact["points"] == SEVERITY_POINTS["high"]
    assert fact["finding_ids"] == ids and fact["occurrences"] == 5
    assert fact["category"] == "third_party_sharing"  # ties broken by the fixed category order
    assert set(fact["rules"]) == {
        "third_party_sharing.advertisers", "third_party_sharing.disclosure",
        "behavioral_ads.ad-serving", "tracking.cross-device", "tracking.cookies"}


def test_the_same_tracker_on_several_pages_counts_once(scored_db):
    for page in ("/", "/games", "/videos"):
        tracker(scored_db, "curated:meta", page=page)
    points, explanation = score(scored_db, GENERAL)
    (fact,) = explanation["contributions"]
    assert points == SEVERITY_POINTS["high"] and fact["occurrences"] == 3


def test_child_directed_ad_tracker_cross_check_is_the_trackers_fact_not_a_second_one(scored_db):
    request = "https://connect.facebook.net/en_US/fbevents.js"
    scored_db["third_party_rows"].insert({"scan_id": 1, "target_id": "t", "request_url": request,
                                       "rule_id": "curated:meta", "entity": "Meta"})
    tracker(scored_db, "curated:meta")
    finding(scored_db, "crosscheck.child-directed-ad-tracker", "critical", source="crosscheck",
            category="behavioral_ads",
            evidence=f"T is child-directed and https://t.example/ loads Meta (advertising): "
                     f"{request}")
    points, explanation = score(scored_db)
    (fact,) = explanation["contributions"]
    assert points == SEVERITY_POINTS["critical"]  # the higher of the two, not escalated again
    assert fact["escalation"] is None and fact["occurrences"] == 2


def test_each_category_is_capped_and_further_facts_add_one_point_each(scored_db):
    for i in range(4):
        finding(scored_db, f"tracking.rule{i}", "high", sentence=i)
    points, explanation = score(scored_db, GENERAL)
    cap = CATEGORY_CAPS["tracking"]
    assert explanation["categories"]["tracking"]["points_before_cap"] == 4 * SEVERITY_POINTS["high"]
    # 12 + 12 fills the cap of 12 with the first fact; the other three add one point each.
    assert points == cap + 3
    assert [c["cap_applied"] for c in explanation["contributions"]] == [False, True, True, True]


def test_overflow_past_the_cap_is_bounded(scored_db):
    for i in range(OVERFLOW_LIMIT + 8):
        tracker(scored_db, f"curated:analytics{i}", category="tracking", severity="medium")
    points, _ = score(scored_db, GENERAL)
    assert points == CATEGORY_CAPS["tracking"] + OVERFLOW_LIMIT


def test_removing_a_tracker_from_an_f_site_changes_the_score(scored_db):
    bad_site(scored_db)
    before, explanation = score(scored_db)
    assert grade_for(before) == "F" and explanation["categories"]["behavioral_ads"]["points"] > \
        CATEGORY_CAPS["behavioral_ads"]  # the category is past its cap: the hard case
    delete(scored_db, "curated:ads3")
    after, _ = score(scored_db)
    assert 0 < before - after


def test_fixing_a_practice_changes_the_score(scored_db):
    bad_site(scored_db)
    before, _ = score(scored_db)
    delete(scored_db, "sale.personal-data")
    finding(scored_db, "sale.personal-data.denied", "info", polarity="protective", sentence=1)
    after, _ = score(scored_db)
    assert after < before


def test_child_directed_targets_weigh_ads_sale_brokers_location_and_photos_more(scored_db):
    finding(scored_db, "collection.contact", "low", sentence=1, data_types=["contact"])
    plain, _ = score(scored_db, GENERAL)
    assert plain == score(scored_db, KIDS)[0]  # contact details: no escalation
    for rule, category, data_types in (
        ("behavioral_ads.interest-based", "behavioral_ads", ()),
        ("sale.personal-data", "sale", ()),
        ("third_party_sharing.data-brokers", "third_party_sharing", ()),
        ("collection.precise-location", "collection", ["precise_location"]),
        ("collection.audio-video", "collection", ["audio_video"]),
    ):
        delete(scored_db, "collection.contact")
        scored_db.execute("DELETE FROM scan_findings")
        finding(scored_db, rule, "high", sentence=2, category=category, data_types=data_types)
        general, _ = score(scored_db, GENERAL)
        kids, explanation = score(scored_db, KIDS)
        assert kids > general, rule
        assert explanation["contributions"][0]["escalation"], rule


def test_collection_is_weighed_by_data_type_not_rule_severity(scored_db):
    finding(scored_db, "collection.contact", "low", sentence=1, data_types=["contact"])
    low, _ = score(scored_db, GENERAL)
    scored_db.execute("DELETE FROM scan_findings")
    finding(scored_db, "collection.th-contact", "medium", sentence=1, data_types=["contact"])
    assert score(scored_db, GENERAL)[0] == low


def test_safeguards_lower_the_score_within_bounds(scored_db):
    bad_site(scored_db)
    before, _ = score(scored_db)
    for rule in ("children.parental-consent", "children.parent-review-deletion",
                 "user_rights.access-deletion", "retention.limited", "transfer.safeguards",
                 "tracking.controls"):
        finding(scored_db, rule, "info", polarity="protective", sentence=7)
    after, explanation = score(scored_db)
    assert before - after == SAFEGUARD_CAP
    safeguards = [c for c in explanation["contributions"] if c["kind"] == "safeguard"]
    assert {c["category"] for c in safeguards} == {"children", "user_rights", "retention",
                                                   "transfer", "tracking"}
    assert sum(c["points"] for c in safeguards) == -SAFEGUARD_CAP


def test_safeguards_never_take_more_than_half_and_denials_are_not_safeguards(scored_db):
    finding(scored_db, "collection.contact", "low", sentence=1, data_types=["contact"])
    finding(scored_db, "children.parental-consent", "info", polarity="protective", sentence=2)
    finding(scored_db, "user_rights.access-deletion", "info", polarity="protective", sentence=3)
    assert score(scored_db, GENERAL)[0] == 1  # 2 risk points, at most half taken off
    scored_db.execute("DELETE FROM scan_findings WHERE polarity = 'protective'")
    finding(scored_db, "sale.personal-data.denied", "info", polarity="protective", sentence=2)
    finding(scored_db, "sale.denial", "info", polarity="protective", sentence=2)
    points, explanation = score(scored_db, GENERAL)
    assert points == 2 and [p["safeguard"] for p in explanation["protective"]] == [False, False]


def test_every_risk_finding_is_in_one_contribution_and_they_add_up_to_the_score(scored_db):
    bad_site(scored_db)
    finding(scored_db, "children.parental-consent", "info", polarity="protective", sentence=7)
    points, explanation = score(scored_db)
    listed = [i for c in explanation["contributions"] for i in c["finding_ids"]]
    risk_ids = [r["id"] for r in scored_db["findings"].rows_where("polarity = 'risk'")]
    assert sorted(i for i in listed if i in risk_ids) == sorted(risk_ids)
    assert len(listed) == len(set(listed))
    assert points == sum(c["points"] for c in explanation["contributions"])
    for c in explanation["contributions"]:
        assert {"rule_id", "category", "points", "cap_applied", "escalation"} <= set(c)


# The same practice in English and in Thai; before the model counted sentences once, the Thai
# sentence earned 27 points (four rules, contact and age rated medium) and the English one 14.
SAME_PRACTICE = [
    ("We collect the user's first name, surname, email, date of birth and school name.",
     "เราเก็บรวบรวมชื่อ นามสกุล อีเมล วันเกิด และชื่อโรงเรียนของผู้ใช้"),
    ("We collect the precise location of your device.",
     "เราเก็บรวบรวมข้อมูลตำแหน่งที่ตั้งที่แม่นยำของอุปกรณ์ของท่าน"),
    ("We may sell your personal information to our partners.",
     "เราอาจขายข้อมูลส่วนบุคคลของท่านให้แก่พันธมิตร"),
]


@pytest.mark.parametrize("english, thai", SAME_PRACTICE)
def test_the_same_practice_scores_the_same_in_english_and_thai(db, english, thai):
    rules = load_rules()
    results = []
    for text, lang in ((english, "en"), (thai, "th")):
        found = [f for f in classify(text, rules, lang) if f.polarity == "risk"]
        assert found, text
        rows = [{"id": i, "source": "policy", "rule_id": f.rule_id, "category": f.category,
                 "practice": f.practice, "severity": f.severity, "polarity": f.polarity,
                 "data_types": json.dumps(f.data_types), "evidence": f.evidence,
                 "document_id": 1, "start": f.start, "end": f.end}
                for i, f in enumerate(found)]
        results.append(scoring.explain(rows, child_directed=True)["score"])
    assert results[0] == results[1]


@pytest.mark.parametrize("score, grade", [(0, "A"), (10, "A"), (11, "B"), (25, "B"), (40, "C"),
                                          (41, "D"), (55, "D"), (56, "F"), (100, "F")])
def test_grade_bounds(score, grade):
    assert grade_for(score) == grade


def test_app_and_store_findings_count_once_per_sdk_or_declaration_like_trackers(scored_db):
    for _ in range(2):  # the same SDK found by its class and by a referenced type
        finding(scored_db, "app.sdk.admob", "critical", source="app", category="behavioral_ads")
    finding(scored_db, "app.permission.access_fine_location", "high", source="app",
            category="collection", data_types=["precise_location"])
    finding(scored_db, "store.contains-ads", "low", source="store", category="behavioral_ads")
    points, explanation = score(scored_db)
    facts = {c["rule_id"]: c for c in explanation["contributions"]}
    assert facts["app.sdk.admob"]["occurrences"] == 2
    # Critical because the app is child-directed already: not raised a second time.
    assert facts["app.sdk.admob"]["points"] == SEVERITY_POINTS["critical"]
    assert facts["app.permission.access_fine_location"]["escalation"] == "precise location"
    assert points == sum(c["points"] for c in facts.values())
    delete(scored_db, "store.contains-ads")
    assert score(scored_db)[0] < points


def test_remembered_points_are_the_points_of_the_row_and_of_its_list_form():
    """finding_points remembers by the fields it reads: a row gets what its fields give, whether
    its data_types are the stored JSON text or a list, and whatever rows came before it."""
    rows = [{"category": category, "severity": severity, "data_types": types, "practice": practice,
             "rule_id": f"{category}.{practice or 'x'}", "polarity": "risk", "id": 1}
            for category in ("collection", "third_party_sharing", "sale", "children")
            for severity in ("low", "high", "critical")
            for types in (None, "", '["photos", "contact"]', '["contact"]', "not json")
            for practice in (None, "data-brokers", "th-advertisers")]
    for child_directed in (True, False):
        for row in rows:
            points = scoring.finding_points(row, child_directed)
            assert points == scoring._finding_points(row, child_directed)
            listed = json.loads(row["data_types"]) if row["data_types"] and \
                row["data_types"].startswith("[") else None
            if listed is not None:
                assert scoring.finding_points({**row, "data_types": listed}, child_directed) == points
    photos = {"category": "collection", "severity": "low", "data_types": '["photos"]',
              "practice": None, "rule_id": "collection.photos"}
    assert scoring.finding_points(photos, True) == (15, 10, "data type photos", "photos of children")
    assert scoring.finding_points(photos, False) == (10, 10, "data type photos", None)
