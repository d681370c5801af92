"""targets/examples/child-apps.yaml: a real registry that loads and covers what it claims."""

import ipaddress
from urllib.parse import urlsplit

from helpers import ROOT
from scanner.targets import load_targets

REGISTRY = ROOT / "targets" / "examples" / "child-apps.yaml"


def test_registry_validates_and_holds_at_least_40_apps():
    targets = load_targets(REGISTRY)
    assert len(targets) >= 40
    assert len({t.id for t in targets}) == len(targets)


def test_registry_covers_learning_games_video_social_and_thailand():
    targets = load_targets(REGISTRY)
    tags = {tag for t in targets for tag in t.tags}
    assert {"learning", "games", "video", "social"} <= tags
    thai = [t for t in targets if t.country == "TH"]
    assert len(thai) >= 5
    assert sum(t.audience == "child-directed" for t in targets) >= 20
    ids = {t.id for t in targets}
    assert {"youtube-kids", "roblox", "minecraft", "scratch", "line", "rov", "dltv"} <= ids


def test_registry_addresses_are_public_https_names():
    for target in load_targets(REGISTRY):
        for url in [target.homepage, *target.policy_urls]:
            parts = urlsplit(url)
            assert parts.scheme == "https", url
            host = parts.hostname
            assert "." in host and not host.endswith((".example", ".test", ".local", "localhost")), url
            try:
                ipaddress.ip_address(host)
            except ValueError:
                continue
            raise AssertionError(f"{url}: a registry entry names a host, not an address")
