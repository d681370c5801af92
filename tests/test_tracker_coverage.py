"""The curated tracker list keeps up with the web: most prevalent tracker domains, right owners."""

import importlib.util

import pytest

from helpers import ROOT
from scanner.trackers import TrackerList

TDS = ROOT.parent / "shared" / "lists" / "duckduckgo-tracker-blocklists" / "web" / "v6" / "extension-tds.json"


def load_bench():
    spec = importlib.util.spec_from_file_location("tracker_coverage", ROOT / "bench" / "tracker_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def curated():
    return load_bench().curated_trackers()


@pytest.mark.skipif(not TDS.is_file(), reason="../shared/lists (DuckDuckGo TDS) not present")
def test_top_200_recognised_with_the_right_owner(curated):
    bench = load_bench()
    ranking = bench.tds_ranking(TDS)
    result = bench.coverage(curated, ranking, 200)
    assert result["top"] == 200
    misses = [row["domain"] for row, _ in result["misses"]]
    assert result["right_owner"] >= 190, f"{result['right_owner']}/200 with the right owner; misses: {misses}"
    # Most owners are checked against the TDS, not taken on our word.
    assert result["owner_unknown"] <= 15


def test_owner_comparison():
    bench = load_bench()
    assert bench.same_owner("Google", ["Google Ads", "Google Ads (Google)"])
    assert bench.same_owner("Criteo", ["Criteo SA"])
    assert bench.same_owner("Meta", ["Facebook, Inc.", "Facebook"])
    assert not bench.same_owner("Outbrain", ["Taboola, Inc.", "Taboola"])
    assert not bench.same_owner("LoopMe", ["Online Media Solutions Ltd. dba Brightcom", "Brightcom"])


@pytest.mark.parametrize("host, entity, category", [
    ("b-code.liadm.com", "LiveIntent", "advertising"),
    ("us.creativecdn.com", "RTB House", "advertising"),
    ("match.prod.bidr.io", "FreeWheel", "advertising"),
    ("sync.1rx.io", "Nexxen", "advertising"),
    ("p.rfihub.com", "Zeta Global", "advertising"),
    ("cdn.onaudience.com", "OnAudience", "data_broker"),
    ("ep1.adtrafficquality.google", "Google", "advertising"),
    ("hb.yellowblue.io", "Unity", "advertising"),
    ("stats.wp.com", "Automattic", "analytics"),
])
def test_newly_added_domains_are_looked_up(curated, host, entity, category):
    info = curated.lookup(host)
    assert info is not None, host
    assert (info.entity, info.category) == (entity, category)


def test_specific_host_keeps_its_own_record_under_a_broad_parent(curated):
    # google.com became a content domain; Google's ad host under it stays advertising, and an
    # image CDN host of WordPress.com stays a CDN while its stats host is analytics.
    assert curated.lookup("adservice.google.com").category == "advertising"
    assert curated.lookup("www.google.com").category == "content"
    assert curated.lookup("i0.wp.com").category == "cdn"
    assert curated.lookup("mc.yandex.ru").category == "analytics"
    assert curated.lookup("api-maps.yandex.ru").category == "content"
    assert isinstance(curated, TrackerList)
