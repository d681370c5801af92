"""Third-party domains: registrable domains (offline tldextract) and the tracker entity lists.

The model (docs/trackers.md): rule files in rules/trackers/ name entities (owner, category,
data-broker flag, tracker domains, first-party `properties`); imported lists in
rules/trackers/imported/ use the same model, plus Adblock Plus filter lists matched by `adblock`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import tldextract
import yaml

from scanner.paths import TRACKER_RULES_DIR

# Never download the Public Suffix List: the bundled snapshot only, and no cache writes. Private
# suffixes (github.io, cloudfront.net) count, so two customers of one host are two parties.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None,
                                 include_psl_private_domains=True)

# Extra rule directories (os.pathsep-separated), loaded after the checkout's own; tests use it.
EXTRA_RULES_ENV = "SCANNER_TRACKER_RULES"

CATEGORIES = (
    "advertising", "analytics", "social", "session_replay", "fingerprinting", "consent",
    "data_broker", "tag_manager", "attribution", "content", "cdn",
    # only from imported lists
    "email", "cryptomining", "anti_fraud", "location", "profiling", "identification",
    "crash_reporting", "unclassified",
)

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def normalize_host(host: str) -> str:
    return (host or "").strip().strip("[]").lower().rstrip(".")


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(normalize_host(host))
    except ValueError:
        return False
    return True


RESERVED_TLDS = ("test", "example", "invalid", "localhost")  # RFC 2606: test and demo hosts


@lru_cache(maxsize=65536)
def has_known_suffix(host: str) -> bool:
    """True for a host under a public suffix (or a reserved test TLD): a name that can exist."""
    host = normalize_host(host)
    return bool(_EXTRACT(host).suffix) or host.rsplit(".", 1)[-1] in RESERVED_TLDS


@lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str:
    """example.co.uk for www.example.co.uk; the host itself for IPs, localhost and bare suffixes."""
    host = normalize_host(host)
    if not host or is_ip(host):
        return host
    parts = _EXTRACT(host)
    if not parts.suffix:
        # Not a public suffix (.test, .example, .internal): treat the last label as one.
        return ".".join(host.split(".")[-2:])
    return parts.top_domain_under_public_suffix or host


def domain_label(domain: str) -> str:
    """The name part of a registrable domain: 'bbc' for bbc.co.uk."""
    if is_ip(domain):
        return domain
    parts = _EXTRACT(domain)
    if not parts.suffix:
        labels = domain.split(".")
        return labels[-2] if len(labels) >= 2 else domain
    return parts.domain or domain


@dataclass(frozen=True)
class TrackerInfo:
    domain: str
    entity: str
    category: str
    is_data_broker: bool
    rule_id: str
    source: str = "curated"
    child_directed_adtech: bool = False
    version: str | None = None
    license: str | None = None


@dataclass
class Entity:
    """An owner of domains: the unit the policy is held to (a policy names 'Google', not a host)."""

    key: str
    name: str
    category: str
    is_data_broker: bool = False
    child_directed_adtech: bool = False
    aliases: tuple = ()
    domains: tuple = ()
    properties: tuple = ()
    source: str = "curated"

    @property
    def names(self) -> tuple:
        """Every name a privacy policy could use for this entity."""
        return (self.name, *self.aliases)


@dataclass
class AbpList:
    """An Adblock Plus filter list, kept where it was imported from and matched with `adblock`."""

    name: str
    path: Path
    category: str
    version: str | None
    license: str | None
    sha256: str | None
    _engine: object = field(default=None, repr=False)

    def engine(self):
        if self._engine is None:
            import adblock

            filters = adblock.FilterSet(debug=True)
            filters.add_filter_list(self.path.read_text(encoding="utf-8", errors="replace"),
                                    format="standard")
            # optimize=False: an optimised engine merges filters and can't say which one fired.
            self._engine = adblock.Engine(filters, optimize=False)
        return self._engine

    def match(self, url: str, page_url: str, request_type: str) -> str | None:
        """The filter that blocks this request, or None (exceptions `@@` win)."""
        result = self.engine().check_network_urls(url, page_url, request_type)
        return result.filter if result.matched else None


class TrackerListError(ValueError):
    """A tracker rule file that cannot be used; the message names the file and entity."""


class TrackerList:
    """Host -> TrackerInfo (tracker domains, then host patterns), host -> owning entity, ABP lists."""

    def __init__(self, entries: dict[str, TrackerInfo], entities: dict[str, Entity] | None = None,
                 owners: dict[str, str] | None = None, patterns: list | None = None,
                 abp_lists: list[AbpList] | None = None):
        self.entries = entries
        self.entities = entities or {}
        self.owners = owners or {}          # domain -> entity name (trackers and properties)
        self.patterns = patterns or []      # [(compiled host regex, TrackerInfo)]
        self.abp_lists = abp_lists or []
        self.cookie_names: dict[str, TrackerInfo] = {}    # exact cookie name -> owner's rule
        self.cookie_prefixes: list[tuple[str, TrackerInfo]] = []   # from names ending in *
        # Which file (in load order) gave each domain: an earlier list wins over a more
        # specific host of a later one (curated googletagmanager.com over an imported www.).
        self.entry_rank: dict[str, int] = {}
        self.owner_rank: dict[str, int] = {}
        self.files_loaded = 0

    @classmethod
    def load(cls, root: Path | None = None, extra: list[Path] | None = None) -> "TrackerList":
        """Curated files of `root` first (they win), then its imported/ lists, then `extra` dirs."""
        root = Path(root) if root else TRACKER_RULES_DIR
        if extra is None:
            extra = [Path(p) for p in os.environ.get(EXTRA_RULES_ENV, "").split(os.pathsep) if p]
        files = sorted(root.glob("*.yaml"))
        for directory in [root / "imported", *extra]:
            files += sorted(p for p in Path(directory).rglob("*.yaml") if p not in files)
        trackers = cls({})
        for path in files:
            trackers._load_file(path)
        return trackers

    def _load_file(self, path: Path) -> None:
        self.files_loaded += 1
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
        except yaml.YAMLError as exc:
            raise TrackerListError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise TrackerListError(f"{path}: expected a mapping")
        source = str(data.get("source", path.stem))
        version, licence = data.get("version"), data.get("license")
        if data.get("format") == "abp":
            filter_path = Path(data["filter_list"])
            if not filter_path.is_absolute():
                filter_path = (path.parent / filter_path).resolve()
            if not filter_path.exists():
                raise TrackerListError(f"{path}: filter_list {filter_path} does not exist")
            self.abp_lists.append(AbpList(
                name=source, path=filter_path, category=data.get("category", "unclassified"),
                version=version, license=licence, sha256=data.get("sha256"),
            ))
            return
        for raw in data.get("entities") or []:
            self._add_entity(path, raw, source, version, licence)
        # Grouping only (DuckDuckGo `domains`, Disconnect entities.json): domain -> owner name.
        for domain, owner in (data.get("owners") or {}).items():
            self._set_owner(str(domain).lower(), owner)

    def _add_entity(self, path, raw, source, version, licence) -> None:
        key = raw.get("id") or raw.get("name")
        for required in ("name", "category"):
            if not raw.get(required):
                raise TrackerListError(f"{path}: entity {key}: {required}: missing")
        if raw["category"] not in CATEGORIES:
            raise TrackerListError(f"{path}: entity {key}: category: {raw['category']!r} unknown")
        entity = Entity(
            key=str(key), name=raw["name"], category=raw["category"],
            is_data_broker=bool(raw.get("is_data_broker", False)),
            child_directed_adtech=bool(raw.get("child_directed_adtech", False)),
            aliases=tuple(raw.get("aliases") or ()),
            domains=tuple(d.lower() for d in raw.get("domains") or ()),
            properties=tuple(d.lower() for d in raw.get("properties") or ()), source=source,
        )
        known = self.entities.get(entity.name)
        if known is None:
            self.entities[entity.name] = entity
        else:
            # One company, several records (its ads, its analytics): one entity for the policy.
            known.aliases = tuple(dict.fromkeys(known.aliases + entity.aliases))
            known.domains = tuple(dict.fromkeys(known.domains + entity.domains))
        rule_id = raw.get("rule_id") or f"{source}:{key}"

        def info(domain):
            return TrackerInfo(
                domain=domain, entity=entity.name, category=entity.category,
                is_data_broker=entity.is_data_broker, rule_id=rule_id, source=source,
                child_directed_adtech=entity.child_directed_adtech, version=version,
                license=licence,
            )

        for domain in entity.domains:
            if domain not in self.entries:
                self.entries[domain] = info(domain)
                self.entry_rank[domain] = self.files_loaded
            self._set_owner(domain, entity.name)
        for domain in entity.properties:
            self._set_owner(domain, entity.name)
        first_domain = entity.domains[0] if entity.domains else entity.name
        for cookie in raw.get("cookies") or ():
            if cookie.endswith("*"):
                self.cookie_prefixes.append((cookie[:-1], info(first_domain)))
            else:
                self.cookie_names.setdefault(cookie, info(first_domain))
        for pattern in raw.get("host_patterns") or ():
            try:
                self.patterns.append((re.compile(pattern, re.I), info(pattern)))
            except re.error as exc:
                raise TrackerListError(f"{path}: entity {key}: bad host pattern {pattern!r}: {exc}") from None

    @staticmethod
    def _suffixes(host: str):
        labels = normalize_host(host).split(".")
        for i in range(len(labels)):
            yield ".".join(labels[i:])

    def _set_owner(self, domain: str, owner: str) -> None:
        if domain not in self.owners:
            self.owners[domain] = owner
            self.owner_rank[domain] = self.files_loaded

    @staticmethod
    def _first_by_rank(table: dict, ranks: dict, suffixes):
        """The hit from the earliest-loaded file; within one file the most specific suffix."""
        best, best_rank = None, None
        for suffix in suffixes:
            if suffix in table and (best_rank is None or ranks.get(suffix, 0) < best_rank):
                best, best_rank = table[suffix], ranks.get(suffix, 0)
        return best

    def lookup(self, host: str) -> TrackerInfo | None:
        """The tracker rule for this host: its own or a parent domain's, then host patterns."""
        info = self._first_by_rank(self.entries, self.entry_rank, self._suffixes(host))
        if info:
            return info
        host = normalize_host(host)
        for pattern, info in self.patterns:
            if pattern.search(host):
                return info
        return None

    def cookie_owner(self, name: str) -> TrackerInfo | None:
        """The tracker whose script sets a cookie of this name (_ga, _fbp), wherever it is set."""
        info = self.cookie_names.get(name)
        if info:
            return info
        return next((i for prefix, i in self.cookie_prefixes if name.startswith(prefix)), None)

    def entity_of(self, host: str) -> str | None:
        return self._first_by_rank(self.owners, self.owner_rank, self._suffixes(host))

    def match_filters(self, url: str, page_url: str, request_type: str) -> tuple[AbpList, str] | None:
        """The first ABP list and filter that block this request, if any."""
        for abp in self.abp_lists:
            rule = abp.match(url, page_url, request_type)
            if rule:
                return abp, rule
        return None


CDN_AFFIXES = ("cdn", "static", "assets", "img", "images", "media", "files", "content")


def same_site_name(request_domain: str, page_domain: str) -> bool:
    """Heuristic grouping of a site's own domains: happyhippo.co.th / happyhippo-cdn.com."""
    a, b = domain_label(request_domain), domain_label(page_domain)
    if is_ip(a) or is_ip(b) or len(b) < 4:
        return False
    if a == b:
        return True
    stripped = a.replace("-", "")
    for affix in CDN_AFFIXES:
        if stripped in (b.replace("-", "") + affix, affix + b.replace("-", "")):
            return True
    return False


def is_third_party(request_host: str, page_host: str, trackers: TrackerList | None = None) -> bool:
    """Another registrable domain than the page's, unless both belong to the same entity.

    A known tracker domain is never folded into the site by the name heuristic.
    """
    a, b = registrable_domain(request_host), registrable_domain(page_host)
    if a == b:
        return False
    if trackers is not None:
        ea, eb = trackers.entity_of(request_host), trackers.entity_of(page_host)
        if ea and ea == eb:
            return False
        if trackers.lookup(request_host) is not None:
            return True
    return not same_site_name(a, b)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
