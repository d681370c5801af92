"""Registrable domains, entity grouping, the curated list, and how requests are classified."""

from collections import Counter

import pytest
import yaml

from helpers import ROOT, invoke, write_file
from scanner.tracker_classify import classify_request, tracker_category, tracker_severity
from scanner.trackers import CATEGORIES, TrackerList, TrackerListError, is_third_party, registrable_domain

CURATED = ROOT / "rules" / "trackers" / "curated.yaml"


@pytest.fixture(scope="module")
def trackers():
    return TrackerList.load(extra=[])


@pytest.mark.parametrize("host, domain", [
    ("www.example.co.uk", "example.co.uk"),
    ("a.b.example.co.th", "example.co.th"),
    ("shop.example.ac.th", "example.ac.th"),
    ("WWW.Example.COM.", "example.com"),
    ("127.0.0.1", "127.0.0.1"),
    ("[::1]", "::1"),
    ("localhost", "localhost"),
    ("alice.github.io", "alice.github.io"),       # private suffix: each user is a party
    ("d111abc.cloudfront.net", "d111abc.cloudfront.net"),
    ("co.uk", "co.uk"),
    ("beacon.tinytrack.test", "tinytrack.test"),   # not a public suffix: last label stands in
    ("intranet", "intranet"),
])
def test_registrable_domain(host, domain):
    assert registrable_domain(host) == domain


def test_same_registrable_domain_is_first_party():
    assert not is_third_party("static.example.co.uk", "www.example.co.uk")
    assert is_third_party("www.example.co.uk", "www.other.co.uk")
    assert is_third_party("127.0.0.2", "127.0.0.1")
    assert not is_third_party("127.0.0.1", "127.0.0.1")
    assert is_third_party("bob.github.io", "alice.github.io")


def test_domains_of_one_entity_are_grouped(trackers):
    # YouTube and DoubleClick are both Google: not a third party on google's own pages.
    assert not is_third_party("googleads.g.doubleclick.net", "www.youtube.com", trackers)
    assert not is_third_party("static.xx.fbcdn.net", "www.instagram.com", trackers)
    assert is_third_party("connect.facebook.net", "www.youtube.com", trackers)


def test_a_sites_own_cdn_is_not_a_third_party(trackers):
    assert not is_third_party("happyhippo-cdn.com", "www.happyhippo.co.th", trackers)
    assert not is_third_party("static.happyhippostatic.net", "happyhippo.com", trackers)
    assert not is_third_party("img.happyhippo.co.uk", "www.happyhippo.com", trackers)
    assert is_third_party("cdn.otherkids.com", "www.happyhippo.com", trackers)
    # The name heuristic never folds a known tracker into the site.
    assert is_third_party("www.google-analytics.com", "google-analytics-fans.com", trackers)


def test_shared_cdn_is_recorded_but_not_a_tracker_finding(trackers):
    info, rule_id, source = classify_request(trackers, "https://d111abc.cloudfront.net/app.js",
                                             "https://kids.example/", "script")
    assert info.category == "cdn" and info.entity == "Amazon" and source == "curated"
    assert tracker_severity(info) is None
    assert is_third_party("d111abc.cloudfront.net", "kids.example", trackers)


def test_lookup_matches_parent_domains_only(trackers):
    assert trackers.lookup("stats.g.doubleclick.net").entity == "Google"
    assert trackers.lookup("notdoubleclick.net") is None
    assert trackers.lookup("doubleclick.net.evil.test") is None
    assert trackers.lookup("127.0.0.1") is None


def test_tracker_cookie_names(trackers):
    assert trackers.cookie_owner("_ga").entity == "Google"
    assert trackers.cookie_owner("_ga_ABC123").entity == "Google"
    assert trackers.cookie_owner("_fbp").entity == "Meta"
    assert trackers.cookie_owner("_hjSessionUser_3141592").entity == "Hotjar"
    assert trackers.cookie_owner("session") is None


def test_finding_category_and_severity(trackers):
    ads, broker = trackers.lookup("doubleclick.net"), trackers.lookup("bluekai.com")
    kid_safe = trackers.lookup("ads.superawesome.tv")
    assert (tracker_category(ads), tracker_severity(ads)) == ("behavioral_ads", "high")
    assert (tracker_category(broker), tracker_severity(broker)) == ("sale", "high")
    assert kid_safe.child_directed_adtech
    assert (tracker_category(kid_safe), tracker_severity(kid_safe)) == ("tracking", "medium")


def test_curated_list_size_and_shape():
    data = yaml.safe_load(CURATED.read_text(encoding="utf-8"))
    assert data["source"] == "curated" and data["license"] and data["version"]
    ids = [e["id"] for e in data["entities"]]
    assert len(ids) == len(set(ids)), "entity ids are unique"
    domains = Counter(d for e in data["entities"] for d in e["domains"])
    duplicated = [d for d, n in domains.items() if n > 1]
    assert not duplicated, f"listed twice: {duplicated}"
    trackers = [d for e in data["entities"] if e["category"] != "cdn" for d in e["domains"]]
    assert len(trackers) >= 200
    categories = Counter(e["category"] for e in data["entities"])
    assert set(categories) <= set(CATEGORIES)
    for needed in ("advertising", "analytics", "social", "session_replay", "fingerprinting",
                   "consent", "data_broker", "cdn"):
        assert categories[needed] >= 2, needed
    brokers = [e for e in data["entities"] if e.get("is_data_broker")]
    kid_ads = {e["name"] for e in data["entities"] if e.get("child_directed_adtech")}
    assert len(brokers) >= 15 and {"SuperAwesome", "Kidoz"} <= kid_ads
    for entity in data["entities"]:
        for domain in entity["domains"]:
            assert domain == domain.lower().strip() and "." in domain and "/" not in domain, domain


def test_bad_rule_file_names_file_and_entity(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "entities:\n  - {id: x, name: X, category: spying, domains: [x.test]}\n", encoding="utf-8")
    with pytest.raises(TrackerListError, match=r"bad.yaml: entity x: category: 'spying' unknown"):
        TrackerList.load(root=tmp_path, extra=[])


def test_curated_rules_win_over_imported(tmp_path):
    (tmp_path / "curated.yaml").write_text(
        "source: curated\nentities:\n  - {id: a, name: Alpha, category: analytics, domains: [alpha.test]}\n",
        encoding="utf-8")
    imported = tmp_path / "imported"
    imported.mkdir()
    (imported / "other.yaml").write_text(
        "source: other\nentities:\n  - {id: b, name: Beta, category: advertising,"
        " domains: [alpha.test, www.alpha.test, beta.test]}\n",
        encoding="utf-8")
    trackers = TrackerList.load(root=tmp_path, extra=[])
    assert trackers.lookup("x.alpha.test").rule_id == "curated:a"
    # A more specific host in a later list does not override the curated parent domain.
    assert trackers.lookup("www.alpha.test").rule_id == "curated:a"
    assert trackers.entity_of("www.alpha.test") == "Alpha"
    assert trackers.lookup("beta.test").rule_id == "other:b"


def test_tracker_rules_of_the_checkout_pass_their_schema_and_examples():
    from scanner.rulecheck import check_tracker_paths

    problems, count = check_tracker_paths([])
    assert problems == []
    assert count >= 200
    examples = yaml.safe_load(CURATED.read_text(encoding="utf-8"))["examples"]
    assert len(examples["match"]) + len(examples["no_match"]) >= 12
    assert {"cdn", "advertising", "data_broker"} <= {e["category"] for e in examples["match"]}


def test_a_misspelt_or_mistyped_tracker_field_is_a_one_line_error_naming_file_entity_and_field(tmp_path):
    from scanner.rulecheck import check_tracker_paths

    path = write_file(tmp_path, "source: mine\nentities:\n"
                      "  - {id: alpha, name: Alpha, category: advertising, domains: [alpha.test], is_databroker: true}\n"
                      "  - {id: beta, name: Beta, category: advertising, domains: beta.test,"
                      " child_directed_adtech: 'yes'}\n", "mine.yaml")
    with pytest.raises(TrackerListError) as caught:
        TrackerList.load(root=tmp_path, extra=[])
    assert str(caught.value) == (f"{path}: entity alpha: is_databroker: unknown key "
                                 "(did you mean is_data_broker?)")
    problems, _ = check_tracker_paths([path])
    assert problems[:3] == [
        f"{path}: entity alpha: is_databroker: unknown key (did you mean is_data_broker?)",
        f"{path}: entity beta: domains: expected a list of strings",
        f"{path}: entity beta: child_directed_adtech: expected bool, got str 'yes'",
    ]
    assert all("\n" not in p for p in problems)


def test_tracker_examples_that_do_not_hold_are_reported(tmp_path):
    from scanner.rulecheck import check_tracker_paths

    path = write_file(tmp_path, """source: mine
examples:
  match:
    - {url: "https://ads.alpha.test/a.js", entity: Alpha, category: analytics}
    - {url: "https://x.beta.test/b.gif", entity: Beta, category: advertising, via: img.pixel}
    - {url: "https://gamma.test/c.js", entity: Gamma, category: advertising}
  no_match: ["https://alpha.test.example/x.js", "https://ads.alpha.test/z.js"]
entities:
  - {id: alpha, name: Alpha, category: advertising, domains: [alpha.test]}
  - {id: beta, name: Beta, category: advertising, domains: [beta.test]}
""", "mine.yaml")
    problems, count = check_tracker_paths([path])
    assert count == 2
    assert problems == [
        f"{path}: examples.match: https://ads.alpha.test/a.js: expected Alpha / analytics, "
        "got Alpha / advertising (mine:alpha)",
        f"{path}: examples.match: https://gamma.test/c.js: expected Gamma / advertising, got no match",
        f"{path}: examples.no_match: https://ads.alpha.test/z.js: matches Alpha / advertising (mine:alpha)",
    ]


def test_rules_check_runs_the_tracker_section(tmp_path):


    path = write_file(tmp_path, "source: mine\nexamples: {match: [], no_match: []}\nentities:\n"
                      "  - {id: a, name: A, category: advertising, domains: [a.test]}\n", "mine.yaml")
    result = invoke(*["rules", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}: examples.match: needs at least 2" in result.output
    result = invoke(*["rules", "check"])
    assert result.exit_code == 0, result.output
