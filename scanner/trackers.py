"""Third-party domains: registrable domains (offline tldextract) and the tracker entity list."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tldextract
import yaml

from scanner.paths import TRACKER_RULES_DIR

# Never download the Public Suffix List: the bundled snapshot only, and no cache writes.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str:
    """example.co.uk for www.example.co.uk; the host itself for IPs and localhost."""
    host = (host or "").lower().strip(".")
    return _EXTRACT(host).top_domain_under_public_suffix or host


@dataclass(frozen=True)
class TrackerInfo:
    domain: str
    entity: str
    category: str
    is_data_broker: bool
    rule_id: str
    source: str = "curated"
    child_directed_adtech: bool = False


class TrackerList:
    """Domain -> TrackerInfo, matched on the host and each of its parent domains."""

    def __init__(self, entries: dict[str, TrackerInfo]):
        self.entries = entries

    @classmethod
    def load(cls, root: Path = TRACKER_RULES_DIR) -> "TrackerList":
        entries: dict[str, TrackerInfo] = {}
        for path in sorted(root.rglob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            source = data.get("source", "curated")
            for entity in data.get("entities", []):
                for domain in entity["domains"]:
                    entries.setdefault(
                        domain.lower(),
                        TrackerInfo(
                            domain=domain.lower(), entity=entity["name"],
                            category=entity["category"],
                            is_data_broker=bool(entity.get("is_data_broker", False)),
                            rule_id=f"tracker.{path.stem}.{entity['id']}", source=source,
                            child_directed_adtech=bool(entity.get("child_directed_adtech", False)),
                        ),
                    )
        return cls(entries)

    def lookup(self, host: str) -> TrackerInfo | None:
        labels = (host or "").lower().strip(".").split(".")
        for i in range(len(labels) - 1):
            info = self.entries.get(".".join(labels[i:]))
            if info:
                return info
        return None

    def entity_of(self, host: str) -> str | None:
        info = self.lookup(host)
        return info.entity if info else None


def is_third_party(request_host: str, page_host: str, trackers: TrackerList | None = None) -> bool:
    """Another registrable domain than the page's, unless both belong to the same entity."""
    a, b = registrable_domain(request_host), registrable_domain(page_host)
    if a == b:
        return False
    if trackers is not None:
        ea, eb = trackers.entity_of(request_host), trackers.entity_of(page_host)
        if ea and ea == eb:
            return False
    return True
