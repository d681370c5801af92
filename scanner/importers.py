"""Import public tracker lists into the project's tracker model (rules/trackers/imported/<name>.yaml).

Disconnect services.json (and entities.json), DuckDuckGo TDS (web and app), Exodus trackers JSON
and Adblock Plus filter lists. The list itself is never copied into the repository: domain lists
are converted (their licences travel with them in the file's header), filter lists are referenced
by path and matched at scan time with `adblock`. See docs/trackers.md. An Exodus import also keeps
every tracker's code and network signatures in <name>.sdk-signatures.json for APK analysis
(scanner/apps.py, docs/apps.md).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from scanner.paths import TRACKER_RULES_DIR
from scanner.download import file_sha256
from scanner.trackers import CATEGORIES

FORMATS = ("disconnect", "ddg", "exodus", "abp")
IMPORTED_DIR = TRACKER_RULES_DIR / "imported"
SDK_SIGNATURES_SUFFIX = ".sdk-signatures.json"

# What each publisher states about its data (SOURCES.md of the shared lists; the lists' own
# headers win when they carry one).
PUBLISHER_LICENSES = {
    "disconnect": "CC-BY-NC-SA-4.0",
    "ddg": "CC-BY-NC-SA-4.0",
    "exodus": "ODbL-1.0 (contents DbCL-1.0)",
    "abp": None,
}

DISCONNECT_CATEGORIES = {
    "Advertising": "advertising", "Analytics": "analytics", "Social": "social",
    "FingerprintingInvasive": "fingerprinting", "FingerprintingGeneral": "fingerprinting",
    "Content": "content", "Email": "email", "EmailAggressive": "email",
    "Anti-fraud": "anti_fraud", "Cryptomining": "cryptomining", "ConsentManagers": "consent",
    "Disconnect": "advertising",
}

# DuckDuckGo categories, strongest first: a tracker takes the first one it has.
DDG_CATEGORIES = (
    ("Session Replay", "session_replay"), ("Advertising", "advertising"),
    ("Ad Motivated Tracking", "advertising"), ("Action Pixels", "advertising"),
    ("Audience Measurement", "analytics"), ("Analytics", "analytics"),
    ("Third-Party Analytics Marketing", "analytics"), ("Social Network", "social"),
    ("Social - Share", "social"), ("Social - Comment", "social"), ("Federated Login", "social"),
    ("SSO", "social"), ("Tag Manager", "tag_manager"), ("Embedded Content", "content"),
    ("Badge", "content"), ("Support Chat Widget", "content"), ("Online Payment", "content"),
    ("Content Delivery", "cdn"), ("Ad Fraud", "anti_fraud"),
)

EXODUS_CATEGORIES = (
    ("Advertisement", "advertising"), ("Profiling", "profiling"), ("Location", "location"),
    ("Analytics", "analytics"), ("Identification", "identification"),
    ("Crash reporting", "crash_reporting"),
)

DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")


class ListImportError(ValueError):
    """A list file that is not in the format asked for; the message names the file and why."""


@dataclass
class ImportResult:
    path: Path
    name: str
    entities: int
    domains: int
    skipped: int
    version: str | None
    license: str | None
    sdk_signatures: int = 0          # Exodus: trackers kept with their code / network signatures
    sdk_path: Path | None = None


def import_list(fmt: str, source: Path, out_dir: Path = IMPORTED_DIR, *, name: str | None = None,
                version: str | None = None, license: str | None = None,
                category: str | None = None, downloaded_from: str | None = None,
                downloaded_at: str | None = None, license_notice: str | None = None,
                how: str | None = None) -> ImportResult:
    """Convert (or, for ABP, reference) one public list; write out_dir/<name>.yaml.

    A downloaded list (`scanner trackers update`) names where and when it was downloaded
    (`imported_from`, `imported_at`), the terms of its licence and how it was made (`how`, the
    first comment line) instead of the local file it was read from.
    """
    source = Path(source).resolve()
    if fmt not in FORMATS:
        raise ListImportError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if not source.is_file():
        raise ListImportError(f"{source}: no such file")
    if category is not None and category not in CATEGORIES:
        raise ListImportError(f"--category {category!r} unknown; one of {', '.join(CATEGORIES)}")
    header = {
        "source": None, "format": fmt, "imported_from": downloaded_from or str(source),
        "sha256": file_sha256(source), "imported_at": downloaded_at or dt.datetime.now(
            dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if fmt == "abp":
        body = abp_reference(source, category)
        default_name = "abp-" + re.sub(r"[^a-z0-9]+", "-", source.stem.lower()).strip("-")
    else:
        data = _read_json(source)
        body = {"disconnect": convert_disconnect, "ddg": convert_ddg,
                "exodus": convert_exodus}[fmt](data, source)
        default_name = body.pop("default_name", fmt)
    name = name or default_name
    header["source"] = name
    header["version"] = version or body.pop("version", None) or header["sha256"][:12]
    header["license"] = license or body.pop("license", None) or PUBLISHER_LICENSES[fmt]
    if license_notice:
        header["license_notice"] = license_notice
    if category and fmt != "abp":
        for entity in body.get("entities", []):
            entity["category"] = category
    skipped = body.pop("skipped", 0)
    sdk_signatures = body.pop("sdk_signatures", None)
    document = {**header, **body}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.yaml"
    how = how or (f"Imported by `scanner trackers import --format {fmt}` from {source}. "
                  "Generated: do not edit, re-import.")
    comment = f"# {how}\n# Licence of the data: {header['license']}.\n"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(comment + yaml.dump(document, Dumper=dumper, sort_keys=False,
                                        allow_unicode=True, width=1000), encoding="utf-8")
    sdk_path = None
    if sdk_signatures is not None:
        # Beside the web list, as JSON: the tracker loader reads *.yaml only, scanner/apps.py this.
        sdk_path = out_dir / f"{name}{SDK_SIGNATURES_SUFFIX}"
        sdk_path.write_text(json.dumps({**header, "sdk_signatures": sdk_signatures}, indent=1,
                                       ensure_ascii=False) + "\n", encoding="utf-8")
    entities = body.get("entities", [])
    return ImportResult(
        path=path, name=name, entities=len(entities),
        domains=sum(len(e.get("domains", [])) for e in entities) or body.get("filters", 0),
        skipped=skipped, version=header["version"], license=header["license"],
        sdk_signatures=len(sdk_signatures or ()), sdk_path=sdk_path,
    )


def _read_json(source: Path):
    try:
        return json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ListImportError(f"{source}: not valid JSON: {exc}") from None


def convert_disconnect(data, source: Path) -> dict:
    """services.json -> one record per (category, entity); entities.json -> entity grouping only."""
    if not isinstance(data, dict):
        raise ListImportError(f"{source}: expected a JSON object with 'categories' (services.json)")
    if "categories" not in data and isinstance(data.get("entities"), dict):
        owners = {}
        for entity, body in data["entities"].items():
            for domain in (body.get("properties") or []) + (body.get("resources") or []):
                owners.setdefault(domain.lower(), entity)
        return {"default_name": "disconnect-entities", **_licence_of(data.get("license")),
                "owners": owners, "entities": []}
    if not isinstance(data.get("categories"), dict):
        raise ListImportError(f"{source}: no 'categories' object: not a Disconnect services.json")
    entities, skipped = [], 0
    for disconnect_category, entries in data["categories"].items():
        category = DISCONNECT_CATEGORIES.get(disconnect_category, "unclassified")
        for entry in entries:
            for entity_name, body in entry.items():
                domains, flags = [], {}
                for key, value in body.items():
                    if isinstance(value, list):
                        domains += [d.lower() for d in value if isinstance(d, str)]
                    else:
                        flags[key] = value
                if not domains:
                    skipped += 1
                    continue
                record = {
                    "id": f"{disconnect_category}/{entity_name}", "name": entity_name,
                    "category": "session_replay" if flags.get("session-replay") == "true" else category,
                    "domains": sorted(set(domains)),
                    "rule_id": f"disconnect:{disconnect_category}/{entity_name}",
                }
                entities.append(record)
    return {**_licence_of(data.get("license")), "entities": entities, "skipped": skipped}


def _licence_of(notice: str | None) -> dict:
    """A short licence identifier for a publisher's licence notice, the notice kept beside it."""
    if not notice:
        return {}
    short = notice
    if "NonCommercial-ShareAlike 4.0" in notice or "by-nc-sa/4.0" in notice:
        short = "CC-BY-NC-SA-4.0"
    return {"license": short, "license_notice": notice}


def convert_ddg(data, source: Path) -> dict:
    """DuckDuckGo TDS (web extension-tds.json or app android-tds.json): one record per tracker domain."""
    if not isinstance(data, dict) or not isinstance(data.get("trackers"), dict):
        raise ListImportError(f"{source}: no 'trackers' object: not a DuckDuckGo TDS file")
    is_app = "packageNames" in data
    ddg_entities = data.get("entities") or {}

    def display(owner_name):
        entity = ddg_entities.get(owner_name) or {}
        return entity.get("displayName") or owner_name

    entities, skipped = [], 0
    for domain, tracker in data["trackers"].items():
        owner = tracker.get("owner") or {}
        owner_name = owner.get("ownedBy") or owner.get("name")
        if not owner_name:
            skipped += 1
            continue
        labels = tracker.get("categories") or []
        category = next((ours for theirs, ours in DDG_CATEGORIES if theirs in labels), None)
        if category is None:
            category = "fingerprinting" if (tracker.get("fingerprinting") or 0) >= 2 else "unclassified"
        entities.append({
            "id": domain, "name": display(owner_name) or owner.get("displayName"),
            "category": category, "domains": [domain.lower()], "rule_id": f"ddg:{domain}",
        })
    owners = {d.lower(): display(e) for d, e in (data.get("domains") or {}).items()}
    for name, entity in ddg_entities.items():
        for domain in entity.get("domains") or []:
            owners.setdefault(domain.lower(), display(name))
    version = data.get("version")
    if not version and isinstance(data.get("_builtWith"), dict):
        radar = data["_builtWith"].get("tracker-radar")
        version = f"tracker-radar {radar[:12]}" if radar else None
    return {"default_name": "ddg-app" if is_app else "ddg", "version": str(version) if version else None,
            "entities": entities, "owners": owners, "skipped": skipped}


def convert_exodus(data, source: Path) -> dict:
    """Exodus trackers (API /api/trackers or its array copy): network signatures -> domains/patterns
    for web pages; code and network signatures kept as `sdk_signatures` for APKs."""
    trackers = {}
    if isinstance(data, dict) and isinstance(data.get("trackers"), dict):
        trackers = data["trackers"]
    elif isinstance(data, list):
        for block in data:
            if isinstance(block, dict):
                trackers.update(block)
    elif isinstance(data, dict):
        trackers = data
    trackers = {k: v for k, v in trackers.items() if isinstance(v, dict) and "name" in v}
    if not trackers:
        raise ListImportError(f"{source}: no trackers with a name: not an Exodus trackers file")
    entities, skipped, dates, sdk_signatures = [], 0, [], []
    for key, tracker in trackers.items():
        tracker_id = tracker.get("id", key)
        if tracker.get("creation_date"):
            dates.append(str(tracker["creation_date"]))
        labels = tracker.get("categories") or []
        category = next((ours for theirs, ours in EXODUS_CATEGORIES if theirs in labels), "unclassified")
        # Every tracker keeps its signatures as published, for APK analysis (scanner/apps.py).
        if tracker.get("code_signature") or tracker.get("network_signature"):
            sdk_signatures.append({
                "id": str(tracker_id), "name": tracker["name"], "category": category,
                "categories": list(labels), "code_signature": tracker.get("code_signature") or "",
                "network_signature": tracker.get("network_signature") or "",
                "website": tracker.get("website") or None,
            })
        domains, patterns = split_network_signature(tracker.get("network_signature") or "")
        if not domains and not patterns:
            skipped += 1  # an SDK known by its code only: nothing a web page could show
            continue
        record = {"id": str(tracker_id), "name": tracker["name"], "category": category,
                  "domains": domains, "rule_id": f"exodus:{tracker_id}"}
        if patterns:
            record["host_patterns"] = patterns
        entities.append(record)
    return {"version": max(dates) if dates else None, "entities": entities, "skipped": skipped,
            "sdk_signatures": sdk_signatures}


def split_network_signature(signature: str) -> tuple[list[str], list[str]]:
    """'2mdn\\.net|doubleclick\\.net|fidzup' -> (['2mdn.net', 'doubleclick.net'], ['fidzup'])."""
    domains, patterns = [], []
    for alternative in filter(None, (a.strip() for a in signature.split("|"))):
        plain = alternative.replace("\\.", ".").replace("\\-", "-").strip("^$").lstrip(".").lower()
        if DOMAIN.match(plain):
            domains.append(plain)
        else:
            try:
                re.compile(alternative)
            except re.error:
                continue
            patterns.append(alternative)
    return sorted(set(domains)), patterns


def _abp_licence(value: str | None) -> str | None:
    if value and "easylist.to" in value:
        # What easylist.to/pages/licence.html states for EasyList and EasyPrivacy.
        return f"GPL-3.0-or-later OR CC-BY-SA-3.0 ({value})"
    return value


ABP_HEADER = re.compile(r"^!\s*(Version|Title|Licen[cs]e|Homepage|Last modified)\s*:\s*(.+?)\s*$", re.I)


def abp_reference(source: Path, category: str | None) -> dict:
    """Read an ABP list's header and check `adblock` parses it; the list stays where it is."""
    import adblock

    text = source.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    if not lines:
        raise ListImportError(f"{source}: empty filter list")
    meta = {}
    for line in lines[:60]:
        match = ABP_HEADER.match(line)
        if match:
            meta.setdefault(match.group(1).lower().replace("licence", "license"), match.group(2))
    filters = [l for l in lines if l.strip() and not l.startswith(("!", "[")) and "##" not in l
               and "#@#" not in l and "#?#" not in l]
    if not filters:
        raise ListImportError(f"{source}: no network filters: not an Adblock Plus filter list")
    filter_set = adblock.FilterSet(debug=True)
    filter_set.add_filter_list(text, format="standard")
    adblock.Engine(filter_set, optimize=False)
    title = meta.get("title") or source.stem
    if category is None:
        lowered = f"{title} {source.stem}".lower()
        category = "analytics" if "privacy" in lowered else (
            "advertising" if "easylist" in lowered or "ads" in lowered else "unclassified")
    return {
        "title": title, "filter_list": str(source), "category": category,
        "version": meta.get("version") or meta.get("last modified"),
        "license": _abp_licence(meta.get("license")), "homepage": meta.get("homepage"),
        "filters": len(filters),
    }
