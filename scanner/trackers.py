"""Third-party domains: registrable domains (offline tldextract) and the tracker entity lists.

The model (docs/trackers.md): rule files in rules/trackers/ name entities (owner, category,
data-broker flag, tracker domains, first-party `properties`); imported lists in
rules/trackers/imported/ use the same model, plus Adblock Plus filter lists matched by `adblock`.
"""

from __future__ import annotations

import datetime as dt
import difflib
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

# The schema of a tracker rule file (docs/trackers.md): key -> accepted types. A list type means
# a list of strings. Files written by `scanner trackers import` use the same keys.
_SCALAR = (str, int, float, dt.date, type(None))   # an unquoted 2024-01-31 loads as a date
FILE_KEYS = {
    "source": (str,), "version": _SCALAR, "license": (str, type(None)),
    "license_notice": (str, type(None)), "format": (str,), "imported_from": (str,),
    "imported_at": (str, dt.date), "sha256": (str, type(None)), "title": (str, type(None)),
    "homepage": (str, type(None)), "filter_list": (str,), "category": (str,), "filters": (int,),
    "entities": (list,), "owners": (dict,), "examples": (dict,),
}
ENTITY_KEYS = {
    "id": (str,), "name": (str,), "category": (str,), "rule_id": (str,),
    "is_data_broker": (bool,), "child_directed_adtech": (bool,),
    "aliases": list, "domains": list, "properties": list, "cookies": list, "host_patterns": list,
}
EXAMPLE_KEYS = {"match": list, "no_match": list}
MATCH_EXAMPLE_KEYS = {"url": (str,), "entity": (str,), "category": (str,), "page": (str,),
                      "via": (str,)}


def _type_problem(value, expected) -> str | None:
    """Why value does not have the expected type (a tuple of types, or `list` for a string list)."""
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "expected a list of strings"
        return None
    if isinstance(value, bool) and bool not in expected:
        return f"expected {' or '.join(t.__name__ for t in expected if t is not type(None))}, got {value!r}"
    if not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in expected if t is not type(None))
        return f"expected {names}, got {type(value).__name__} {value!r}"
    return None


def _unknown_key(key, allowed) -> str:
    close = difflib.get_close_matches(str(key), allowed, n=1)
    return "unknown key" + (f" (did you mean {close[0]}?)" if close else
                            f" (allowed: {', '.join(sorted(allowed))})")


def tracker_file_problems(path, data) -> list[str]:
    """Every schema problem of one parsed tracker rule file, one line each: file, entity, field."""
    if not isinstance(data, dict):
        return [f"{path}: expected a mapping"]
    problems = []
    for key, value in data.items():
        if key not in FILE_KEYS:
            problems.append(f"{path}: {key}: {_unknown_key(key, FILE_KEYS)}")
        elif (why := _type_problem(value, FILE_KEYS[key])) is not None:
            problems.append(f"{path}: {key}: {why}")
    if data.get("format") == "abp":
        if not isinstance(data.get("filter_list"), str):
            problems.append(f"{path}: filter_list: missing (an ABP list names its filter file)")
        if data.get("category", "unclassified") not in CATEGORIES:
            problems.append(f"{path}: category: {data['category']!r} unknown")
    for key, owner in (data.get("owners") or {}).items() if isinstance(data.get("owners"), dict) else ():
        if not isinstance(owner, str):
            problems.append(f"{path}: owners: {key}: expected str, got {owner!r}")
    entities = data.get("entities") if isinstance(data.get("entities"), list) else []
    for number, raw in enumerate(entities, 1):
        if not isinstance(raw, dict):
            problems.append(f"{path}: entity #{number}: expected a mapping")
            continue
        where = f"{path}: entity {raw.get('id') or raw.get('name') or f'#{number}'}"
        for key, value in raw.items():
            if key not in ENTITY_KEYS:
                problems.append(f"{where}: {key}: {_unknown_key(key, ENTITY_KEYS)}")
            elif (why := _type_problem(value, ENTITY_KEYS[key])) is not None:
                problems.append(f"{where}: {key}: {why}")
        for required in ("name", "category"):
            if not raw.get(required):
                problems.append(f"{where}: {required}: missing")
        if isinstance(raw.get("category"), str) and raw["category"] and raw["category"] not in CATEGORIES:
            problems.append(f"{where}: category: {raw['category']!r} unknown")
    if isinstance(data.get("examples"), dict):
        problems += _example_problems(path, data["examples"])
    return problems


def _example_problems(path, examples: dict) -> list[str]:
    problems = []
    for key in examples:
        if key not in EXAMPLE_KEYS:
            problems.append(f"{path}: examples.{key}: {_unknown_key(key, EXAMPLE_KEYS)}")
    for number, example in enumerate(examples.get("match") or [], 1):
        where = f"{path}: examples.match #{number}"
        if not isinstance(example, dict):
            problems.append(f"{where}: expected a mapping with url, entity, category")
            continue
        for key, value in example.items():
            if key not in MATCH_EXAMPLE_KEYS:
                problems.append(f"{where}: {key}: {_unknown_key(key, MATCH_EXAMPLE_KEYS)}")
            elif (why := _type_problem(value, MATCH_EXAMPLE_KEYS[key])) is not None:
                problems.append(f"{where}: {key}: {why}")
        for required in ("url", "entity", "category"):
            if not example.get(required):
                problems.append(f"{where}: {required}: missing")
    no_match = examples.get("no_match") or []
    if not isinstance(no_match, list) or not all(isinstance(u, str) for u in no_match):
        problems.append(f"{path}: examples.no_match: expected a list of URLs")
    return problems


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


def tracker_rule_files(root: Path | None = None, extra: list[Path] | None = None) -> list[Path]:
    """The files `TrackerList.load` reads, in its order (curated, imported/, extra dirs)."""
    root = Path(root) if root else TRACKER_RULES_DIR
    if extra is None:
        extra = [Path(p) for p in os.environ.get(EXTRA_RULES_ENV, "").split(os.pathsep) if p]
    files = sorted(root.glob("*.yaml"))
    for directory in [root / "imported", *extra]:
        files += sorted(p for p in Path(directory).rglob("*.yaml") if p not in files)
    return files


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
        return cls.from_files(tracker_rule_files(root, extra))

    @classmethod
    def from_files(cls, files) -> "TrackerList":
        """The list made of these rule files, an earlier file winning over a later one."""
        trackers = cls({})
        for path in files:
            trackers._load_file(Path(path))
        return trackers

    def _load_file(self, path: Path) -> None:
        self.files_loaded += 1
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
        except yaml.YAMLError as exc:
            raise TrackerListError(f"{path}: not valid YAML: {exc}") from None
        problems = tracker_file_problems(path, data)
        if problems:
            raise TrackerListError(problems[0])
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


