"""The `rules` table: every rule a scan judged with, as it was then (version, plain-language
description, legal references), so that a finding can be read years later without the rule files.

Policy rules, tracker-list entities and app SDK rules are recorded when a scan starts. A policy
finding whose rule id carries a suffix (`.denied`, `.heading`, ...) is explained by its base rule
(`describe_finding_rule`); a finding from code (cross-checks, browser behaviour, store pages)
gets a description generated from its id.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from scanner.model import RULE_PREFIX as MODEL_PREFIX
from scanner.model import load_model
from scanner.rule_schema import CATEGORY_PLAIN, LANGS, generated_description, load_rules
from scanner.paths import ROOT
from scanner.schema import store_rule_set

# Suffixes the engine gives a policy rule's id (scanner/engine.py `_finding_head`, CONTEXTS),
# and what each says about the sentence.
SUFFIX_MEANINGS = {
    "denied": "The policy denies this",
    "heading": "Only a heading names this (no practice stated)",
    "definition": "Only a definition mentions this (no practice stated)",
    "rights": "Mentioned as a right of the user, not as a practice",
    "reference": "Mentioned by reference to another document, not as a practice",
    "disclaimer": "Mentioned in a disclaimer about others, not as a practice of the service",
    "exceptions": "Mentioned among the exceptions to a denial",
}
POLICY_SAYS = "The policy says "
COPPA_ADS = ["COPPA 16 CFR 312.2 (persistent identifier)", "COPPA 16 CFR 312.5"]
DECEPTION = ["FTC Act s.5 (15 U.S.C. 45)", "Thailand PDPA s.23"]
# Rules written in code (scanner/crosscheck.py, page_behaviour.py, app_scan.py, scoring.py):
# id -> (category, plain-language description, legal references).
CODE_RULES = {
    "crosscheck.child-directed-ad-tracker": (
        "behavioral_ads", "A site aimed at children loads an advertising tracker.", COPPA_ADS),
    "crosscheck.denial-contradicted": (
        "third_party_sharing", "The policy denies a practice that the pages were seen doing "
        "(for example 'we do not share data with advertisers' next to an ad tracker).",
        DECEPTION),
    "crosscheck.undisclosed-third-party": (
        "third_party_sharing", "The pages send data to a company the policy never names.",
        ["COPPA 16 CFR 312.4(d)(1)", "Thailand PDPA s.23"]),
    "crosscheck.child-directed-disclaimer": (
        "children", "The policy says the service is not for children, yet the target is aimed "
        "at children.", ["COPPA 16 CFR 312.2 (web site directed to children)", *DECEPTION]),
    "crosscheck.undisclosed-sdk": (
        "third_party_sharing", "The app contains an SDK of a company the policy never names.",
        ["COPPA 16 CFR 312.4(d)(1)", "Thailand PDPA s.23"]),
    "crosscheck.sdk-denial-contradicted": (
        "third_party_sharing", "The policy denies a practice that an SDK inside the app does.",
        DECEPTION),
    "crosscheck.store-no-data-shared-contradicted": (
        "third_party_sharing", "The store page says no data is shared, but the app or its "
        "pages send data to third parties.", DECEPTION),
    "crosscheck.store-no-ads-contradicted": (
        "behavioral_ads", "The store page says the app has no ads, but it contains an "
        "advertising SDK.", DECEPTION),
    "crosscheck.child-app-advertising-id": (
        "tracking", "An app for children asks for the advertising ID.", COPPA_ADS),
    "policy.missing": (
        "policy", "No privacy policy could be found or fetched.",
        ["COPPA 16 CFR 312.4(d)", "Thailand PDPA s.23"]),
    "browser.canvas-fingerprinting": (
        "tracking", "A script draws hidden text on a canvas and reads it back to fingerprint "
        "the device.", ["COPPA 16 CFR 312.2 (persistent identifier)",
                        "EU ePrivacy Directive art. 5(3)"]),
    "browser.audio-fingerprinting": (
        "tracking", "A script uses the audio API to fingerprint the device.",
        ["COPPA 16 CFR 312.2 (persistent identifier)", "EU ePrivacy Directive art. 5(3)"]),
    "browser.webgl-fingerprinting": (
        "tracking", "A script reads graphics-card details through WebGL to fingerprint the "
        "device.", ["EU ePrivacy Directive art. 5(3)"]),
    "browser.session-recording": (
        "tracking", "A session-recording script records what the visitor does on the page.",
        ["COPPA 16 CFR 312.2", "EU ePrivacy Directive art. 5(3)"]),
    "browser.key-logging": (
        "tracking", "What the visitor types is sent to another company before it is "
        "submitted.", ["COPPA 16 CFR 312.2", "Thailand PDPA s.19"]),
    "browser.meta-pixel-event": (
        "behavioral_ads", "The page reports the visitor's actions to Meta for advertising.",
        COPPA_ADS),
    "browser.ga-remarketing": (
        "behavioral_ads", "Google Analytics advertising features (remarketing) are on.",
        COPPA_ADS),
    "browser.third-party-cookie": (
        "tracking", "Another company sets a cookie in the visitor's browser.",
        ["EU ePrivacy Directive art. 5(3)", "COPPA 16 CFR 312.2 (persistent identifier)"]),
    "store.contains-ads": ("behavioral_ads", "The store page says the app contains ads.", []),
    "store.data-shared": (
        "third_party_sharing", "The store page's data-safety section says data is shared with "
        "third parties.", []),
    "store.no-data-shared": (
        "third_party_sharing", "The store page says no data is shared with third parties.", []),
    "store.data-collected": (
        "collection", "The store page's data-safety section says data is collected.", []),
    "store.child-audience": (
        "children", "The store page says the app is for children.", []),
}
TRACKER_CATEGORY_PLAIN = {
    "advertising": "advertising", "analytics": "analytics", "social": "social network",
    "session_replay": "session-recording", "fingerprinting": "fingerprinting",
    "consent": "consent-management", "data_broker": "data-broker", "tag_manager": "tag-manager",
    "attribution": "attribution", "content": "content", "cdn": "content-delivery",
}


def _version(value) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def policy_rule_rows(rules=None) -> list[dict]:
    """A row per policy rule, deprecated ones too (their findings may be in older scans)."""
    rows = []
    for rule in rules if rules is not None else load_rules(include_deprecated=True):
        rows.append({
            "id": rule.id, "kind": "policy", "version": rule.version,
            "description": rule.plain_description, "category": rule.category,
            "severity": rule.severity, "polarity": rule.polarity,
            "references": json.dumps(rule.references, ensure_ascii=False),
            "status": rule.status, "lang": rule.lang, "source_file": _relative(rule.path),
            "file_description": rule.file_description or None,
        })
    return rows


def tracker_rule_rows(trackers) -> list[dict]:
    """A row per tracker-list entity rule (`source:entity`), with the domains it matches."""
    by_rule: dict[str, tuple] = {}
    infos = list(trackers.entries.items()) + [(p.pattern, i) for p, i in trackers.patterns]
    for domain, info in infos:
        _, domains = by_rule.setdefault(info.rule_id, (info, []))
        domains.append(domain)
    rows = []
    for rule_id, (info, domains) in sorted(by_rule.items()):
        what = TRACKER_CATEGORY_PLAIN.get(info.category, info.category)
        shown = ", ".join(sorted(domains)[:3]) + (" and others" if len(domains) > 3 else "")
        broker = " (a data broker)" if info.is_data_broker else ""
        rows.append({
            "id": rule_id, "kind": "tracker",
            "version": _version([info.entity, info.category, info.is_data_broker,
                                 sorted(domains), info.version]),
            "description": f"The target's pages load {what} services of {info.entity}{broker} "
                           f"from {shown}.",
            "category": info.category, "severity": None, "polarity": "risk",
            "references": "[]", "status": "stable", "lang": None,
            "source_file": f"tracker list {info.source}"
                           + (f" {info.version}" if info.version else ""),
            "file_description": None,
        })
    return rows


def sdk_rule_rows(signatures) -> list[dict]:
    """A row per app SDK rule (`app.sdk.<id>`), as app findings name them."""
    rows = []
    for sdk in signatures:
        proof = ", ".join(sdk.class_prefixes[:3]) or (sdk.code_pattern.pattern
                                                      if sdk.code_pattern else "?")
        rows.append({
            "id": f"app.sdk.{sdk.id or sdk.name}", "kind": "sdk",
            "version": _version([sdk.name, sdk.entity, sdk.category, sdk.class_prefixes,
                                 sdk.exclude_prefixes, sdk.source]),
            "description": f"The app contains the {sdk.name} SDK ({sdk.entity}, {sdk.category}),"
                           f" proven by a class under {proof}.",
            "category": sdk.category, "severity": None, "polarity": "risk",
            "references": "[]", "status": "stable", "lang": None,
            "source_file": f"SDK rules {sdk.source}", "file_description": None,
        })
    return rows


# COPPA's personal information (16 CFR 312.2) by the data type an app permission reaches.
PERMISSION_REFERENCES = {
    "location": ["COPPA 16 CFR 312.2 (geolocation)", "Thailand PDPA s.19"],
    "audio": ["COPPA 16 CFR 312.2 (audio file)", "Thailand PDPA s.19"],
    "photos": ["COPPA 16 CFR 312.2 (photograph or video)", "Thailand PDPA s.19"],
    "identifiers": ["COPPA 16 CFR 312.2 (persistent identifier)", "Thailand PDPA s.19"],
}


def permission_rules() -> dict[str, tuple]:
    """App permission rules (`app.permission.<name>`), as scanner/app_scan.py names them."""
    from scanner.app_scan import SENSITIVE_PERMISSIONS

    rules = {}
    for permission, (category, data_types, what) in SENSITIVE_PERMISSIONS.items():
        short = permission.rsplit(".", 1)[-1]
        references = PERMISSION_REFERENCES.get(data_types[0], ["Thailand PDPA s.19"])
        rules[f"app.permission.{short.lower()}"] = (
            category, f"The app asks for {short}: access to {what}.", references)
    return rules


@functools.cache
def code_rules() -> dict[str, tuple]:
    """Every rule written in code: {rule id: (category, description, references)}."""
    return {**CODE_RULES, **permission_rules()}


def code_rule_rows() -> list[dict]:
    """A row per rule written in code, so its findings join the rules table like the others."""
    return [{"id": rule_id, "kind": "code", "version": _version([category, text, references]),
             "description": text, "category": category, "severity": None, "polarity": "risk",
             "references": json.dumps(references), "status": "stable", "lang": None,
             "source_file": "scanner (code)", "file_description": None}
            for rule_id, (category, text, references) in code_rules().items()]


def model_description(category: str | None) -> str:
    """What a `model.<category>` finding says (scanner/model.py)."""
    topic = CATEGORY_PLAIN.get(category or "", category or "states this practice")
    return (f"Suggested by the statistical model, not by a rule: the sentence reads like "
            f"sentences saying the service {topic} in the labelled policies the model learned "
            "from, and no rule found it. It adds no points; read the sentence to confirm it.")


def model_rule_rows() -> list[dict]:
    """A row per category the learned model of each language may suggest (`model.<category>`),
    versioned by its weights file; none when no model is enabled."""
    rows = []
    for lang in LANGS:
        model = load_model(lang)
        for category in model.categories if model else ():
            rows.append({
                "id": MODEL_PREFIX + category, "kind": "model", "version": model.version,
                "description": model_description(category), "category": category,
                "severity": "info", "polarity": "risk", "references": "[]",
                "status": "experimental", "lang": lang,
                "source_file": f"rules/model/{lang}.json", "file_description": None})
    return rows


def record_rules(db, scan_id: int, trackers=None) -> int:
    """Record the rules of this scan (read back through the `rules` view): each distinct rule
    and rule set is stored once, the scan names its set; returns the number of rules.

    The rules' sources are hashed first (`rules_key`): when a scan with the same sources made a
    set this database holds, the scan names it and nothing else is done; when the set is known
    from the cache directory but not stored here, its remembered rows are stored. Either way the
    policy and SDK rules are not loaded (unpickling the compiled rules for their descriptions
    alone took 0.9 s of a scan's CPU)."""
    from scanner.apps import load_sdk_rules
    from scanner.trackers import TrackerList

    trackers = trackers if trackers is not None else TrackerList.load()
    tracker_rows, code_rows = tracker_rule_rows(trackers), code_rule_rows() + model_rule_rows()
    key = rules_key(tracker_rows, code_rows)
    known = _known_sets().get(key) if key else None
    if known:
        stored = db.execute("SELECT rules FROM rule_sets WHERE sha256 = ?",
                            [known["set"]]).fetchone()
        if stored is not None:
            with db.conn:
                db.execute("UPDATE scans SET rule_set = ? WHERE id = ?", [known["set"], scan_id])
            return stored[0]
        rows = known["rows"]
    else:
        unique: dict[str, dict] = {}
        for row in policy_rule_rows() + tracker_rows + sdk_rule_rows(load_sdk_rules()) + code_rows:
            unique.setdefault(row["id"], row)  # a policy rule id wins over a tracker or SDK rule
        rows = list(unique.values())
    with db.conn:
        set_sha256 = store_rule_set(db, scan_id, rows)
    if key and not known:
        _remember_set(key, set_sha256, rows)
    return len(rows)


# --- the rule set the rules' sources made, {rules_key: {"set": sha256, "rows": [...]}}, kept in
# the cache directory for the latest few keys
RULE_SETS_CACHE_NAME, RULE_SETS_REMEMBERED = "rule-sets.json", 4
# The code that turns the rule files into rows (the policy rules' parsing code is in
# rules_cache_key; the tracker and code rules' rows are hashed themselves).
ROWS_CODE = ("rules_record.py", "apps.py", "schema.py")


def rules_key(tracker_rows: list[dict], code_rows: list[dict]) -> str | None:
    """A hash of everything the scan's rules rows are made of: the policy rule files and their
    parsing code (the compiled rules cache's key), the SDK rule files, the code turning them into
    rows, and the tracker and code rules' rows; None when the sources cannot be read."""
    from scanner.apps import sdk_rule_files
    from scanner.rule_schema import rules_cache_key

    try:
        digest = hashlib.sha256(f"{rules_cache_key()}\0{ROOT}\0".encode())
        for name in ROWS_CODE:
            digest.update((Path(__file__).parent / name).read_bytes() + b"\0")
        for path in sdk_rule_files():
            digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    digest.update(json.dumps([tracker_rows, code_rows], sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


def _rule_sets_path() -> Path:
    from scanner.rule_schema import cache_dir

    return cache_dir() / RULE_SETS_CACHE_NAME


def _known_sets() -> dict[str, dict]:
    """The remembered sets by rules_key; empty when missing, unreadable, malformed or writable
    by others (like the compiled rules cache, only a file of ours is read)."""
    try:
        path = _rule_sets_path()
        status = path.stat()
        if status.st_uid != os.getuid() or status.st_mode & 0o022:
            return {}
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(known, dict):
        return {}
    return {key: entry for key, entry in known.items()
            if isinstance(entry, dict) and isinstance(entry.get("set"), str)
            and isinstance(entry.get("rows"), list)
            and all(isinstance(row, dict) and "id" in row for row in entry["rows"])}


def _remember_set(key: str, set_sha256: str, rows: list[dict]) -> None:
    """Remember the set (and its rows) made from key's sources, with the latest few; best
    effort: a cache that cannot be written is left as it is."""
    known = {k: v for k, v in _known_sets().items() if k != key}
    known = dict(list(known.items())[-(RULE_SETS_REMEMBERED - 1):])
    known[key] = {"set": set_sha256, "rows": rows}
    partial = None
    try:
        path = _rule_sets_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}-",
                                         delete=False, encoding="utf-8") as out:
            partial = out.name
            json.dump(known, out, ensure_ascii=False)
        os.replace(partial, path)  # atomic: another scan reading it sees the old file or this
    except OSError:
        if partial:
            Path(partial).unlink(missing_ok=True)


def add_rules(db, scan_id: int, rows: list[dict]) -> int:
    """Rules rows (of a shard's scan) join the scan's, winning over its rule of the same id;
    returns how many were given. Plain statements on the open transaction."""
    if rows:
        recorded = {r["id"]: r for r in db.query("SELECT * FROM rules WHERE scan_id = ?",
                                                 [scan_id])}
        store_rule_set(db, scan_id, list({**recorded, **{r["id"]: r for r in rows}}.values()))
    return len(rows)


def split_suffix(rule_id: str) -> tuple[str, str | None]:
    """('sale.personal-data', 'denied') for 'sale.personal-data.denied'; (rule_id, None) else."""
    base, _, last = rule_id.rpartition(".")
    if base and last in SUFFIX_MEANINGS and "." in base:
        return base, last
    return rule_id, None


def describe_finding_rule(rule_id: str, category: str | None, polarity: str | None,
                          recorded: dict[str, dict]) -> dict:
    """{description, references, version, recorded} for a finding's rule: its row of the scan's
    rules (via the base rule for a suffixed id), else a description generated from the id."""
    base, suffix = split_suffix(rule_id or "")
    row = recorded.get(rule_id) or (recorded.get(base) if suffix else None)
    if row is None and rule_id in code_rules():  # a scan recorded before the rule existed
        _, text, references = code_rules()[rule_id]
        return {"description": text, "references": list(references), "version": None,
                "recorded": False}
    if row is None:
        return {"description": _code_rule_description(rule_id or "", category, polarity),
                "references": [], "version": None, "recorded": False}
    description = row.get("description") or generated_description(base, category, polarity)
    if suffix and rule_id not in recorded:
        description = description.removeprefix(POLICY_SAYS)
        description = f"{SUFFIX_MEANINGS[suffix]}: {description[0].lower()}{description[1:]}"
    try:
        references = json.loads(row.get("references") or "[]")
    except ValueError:
        references = []
    return {"description": description, "references": references,
            "version": row.get("version"), "recorded": True}


def _code_rule_description(rule_id: str, category: str | None, polarity: str | None) -> str:
    """Rules written in code (cross-checks, browser, store page, app permissions), by prefix."""
    head, _, rest = rule_id.partition(".")
    words = rest.replace("-", " ").replace("_", " ").replace(".", ", ")
    topic = CATEGORY_PLAIN.get(category or "", category or "")
    if head == "crosscheck":
        return f"What the target does contradicts or goes beyond what its policy says: {words}."
    if head == "store":
        return f"The app's store page declares: {words}."
    if head == "app":
        return f"Found inside the app: {words}."
    if head == "browser":
        return f"Seen in a real browser on the target's pages: {words}."
    if head + "." == MODEL_PREFIX:
        return model_description(category)
    if ":" in rule_id:
        return f"A request to a known tracker ({rule_id}) from the target's pages."
    if topic:
        return generated_description(rule_id, category, polarity)
    return f"Rule {rule_id}."


def recorded_rules(db, scan_id: int) -> dict[str, dict]:
    """The scan's rows of the rules table by id. A scan made before rules were recorded gets
    today's policy and code rules, with no version: they may not be what judged it."""
    rows = {}
    if "rules" in db.table_names() + db.view_names():  # a view since m012
        rows = {row["id"]: row for row in db.query("SELECT * FROM rules WHERE scan_id = ?",
                                                   [scan_id])}
    if rows:
        return rows
    return {row["id"]: {**row, "version": None} for row in policy_rule_rows() + code_rule_rows()}
