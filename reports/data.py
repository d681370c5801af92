"""Gather what a report of one scan shows, as plain data (the JSON report is exactly this).

Columns are read with SELECT * so that columns added later (tracker ids, ...) flow through to the
JSON and the templates without a change here; docs/reports.md lists the keys that are stable.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from scanner import __version__
from scanner.crosscheck import APP_CROSSCHECK_RULES
from scanner.diff import diff_target, previous_scan_for_target
from scanner.findings import POLARITY_ORDER, SEVERITY_ORDER, one_line
from scanner.rules_record import describe_finding_rule, recorded_rules
from scanner.scoring import load_explanation

REPORT_FORMAT_VERSION = 1
GRADES = ("A", "B", "C", "D", "F")

_ROW_KEYS = ("id", "scan_id", "target_id")


class ReportError(LookupError):
    """The scan or target asked for is not in the database."""


def scan_report_data(db, scan_id: int, target_id: str | None = None, *,
                     with_changes: bool = True) -> dict:
    """Everything the report of scan_id shows (one target only when target_id is given)."""
    scan_rows = list(db.query("SELECT * FROM scans WHERE id = ?", [scan_id]))
    if not scan_rows:
        raise ReportError(f"no scan with id {scan_id}")
    scan = scan_rows[0]
    scan["options"] = _json(scan.get("options"), {})
    target_ids = [r[0] for r in db.execute(
        """SELECT target_id FROM scores WHERE scan_id = ?
           UNION SELECT target_id FROM fetches WHERE scan_id = ?
           UNION SELECT target_id FROM app_sdks WHERE scan_id = ?
           UNION SELECT target_id FROM app_permissions WHERE scan_id = ?
           UNION SELECT target_id FROM store_listings WHERE scan_id = ?""",
        [scan_id] * 5).fetchall()]
    if target_id is not None:
        if target_id not in target_ids:
            raise ReportError(f"target {target_id!r} is not in scan {scan_id}")
        target_ids = [target_id]
    recorded = recorded_rules(db, scan_id)
    targets = [target_report_data(db, scan_id, tid, with_changes=with_changes, recorded=recorded)
               for tid in target_ids]
    targets.sort(key=lambda t: (t["score"] is None, -(t["score"] or 0), t["id"]))
    return {
        "report_format": REPORT_FORMAT_VERSION,
        "tool_version": __version__,
        "scan": scan,
        "target_filter": target_id,
        "summary": summarise(targets),
        "targets": targets,
    }


def target_report_data(db, scan_id: int, target_id: str, *, with_changes: bool = True,
                       recorded: dict | None = None) -> dict:
    target = next(db.query("SELECT * FROM targets WHERE id = ?", [target_id]), {"id": target_id})
    score = next(db.query("SELECT * FROM scores WHERE scan_id = ? AND target_id = ?",
                          [scan_id, target_id]), {})
    explanation = (load_explanation(db, scan_id, target_id, score["explanation"])
                   if score.get("explanation") else {})
    contributions = explanation.get("contributions") or []
    fetches = list(db.query("SELECT * FROM fetches WHERE scan_id = ? AND target_id = ? ORDER BY id",
                            [scan_id, target_id]))
    third_parties = list(db.query("SELECT * FROM third_parties WHERE scan_id = ? AND target_id = ? "
                                  "ORDER BY id", [scan_id, target_id]))
    data = {
        "id": target_id,
        "name": target.get("name") or target_id,
        "audience": target.get("audience"),
        "homepage": target.get("homepage"),
        "country": target.get("country"),
        "tags": _json(target.get("tags"), []),
        "platforms": _json(target.get("platforms"), []),
        "status": score.get("status") or "not_scored",
        "grade": score.get("grade"),
        "score": score.get("score"),
        "explanation": explanation,
        "points_total": sum(c.get("points") or 0 for c in contributions),
        "pages": _page_counts(fetches),
        "fetch_errors": _fetch_errors(fetches),
        "policies": _policies(db, fetches, scan_id),
        "findings": _findings(db, scan_id, target_id, contributions, third_parties,
                              recorded_rules(db, scan_id) if recorded is None else recorded),
        "third_parties": _third_parties(third_parties),
        "cookies": _cookies(db, scan_id, target_id),
        "changes": None,
    }
    data["app"] = app_report_data(db, scan_id, target_id, fetches, data["findings"])
    data["verdict"] = verdict(data)
    if with_changes:
        previous = previous_scan_for_target(db, target_id, scan_id)
        if previous is not None:
            data["changes"] = diff_target(db, target_id, previous, scan_id)
    return data


def summarise(targets: list[dict]) -> dict:
    statuses = Counter(t["status"] for t in targets)
    grades = Counter(t["grade"] for t in targets if t["grade"])
    by_category: dict[str, Counter] = defaultdict(Counter)
    severities = Counter()
    for t in targets:
        for f in t["findings"]:
            by_category[f.get("category") or "uncategorised"][f.get("polarity") or "neutral"] += 1
            if f.get("polarity") == "risk":
                severities[f.get("severity")] += 1
    domains_by_category = Counter()
    brokers = set()
    for t in targets:
        for p in t["third_parties"]:
            domains_by_category[p.get("category") or "unknown"] += 1
            if p.get("is_data_broker"):
                brokers.add(p["domain"])
    apps = [t["app"] for t in targets if t.get("app")]
    return {
        "targets": len(targets),
        "apps": len(apps),
        "apps_with_ad_sdks": sum(1 for a in apps if any(s["category"] == "advertising"
                                                        for s in a["sdks"])),
        "statuses": dict(sorted(statuses.items())),
        "grades": {g: grades.get(g, 0) for g in GRADES},
        "risk_findings_by_severity": {s: severities.get(s, 0) for s in SEVERITY_ORDER},
        "findings_by_category": {c: dict(by_category[c]) for c in sorted(by_category)},
        "third_party_domains_by_category": dict(domains_by_category.most_common()),
        "data_broker_domains": sorted(brokers),
        "targets_changed_since_previous_scan": sum(
            1 for t in targets if t["changes"] and t["changes"]["changed"]),
    }


GRADE_LEVELS = {"A": "Low risk", "B": "Some risk", "C": "Moderate risk", "D": "High risk",
                "F": "Very high risk"}
# Cross-checks that hold what the target says (policy, store page) against what it does.
CONTRADICTIONS = ("crosscheck.denial-contradicted", "crosscheck.sdk-denial-contradicted",
                  "crosscheck.store-no-data-shared-contradicted",
                  "crosscheck.store-no-ads-contradicted", "crosscheck.child-directed-disclaimer")
VERDICT_CONCERNS = 3


def verdict(target: dict) -> dict:
    """A plain-language verdict for the top of a target's section: how risky, the main reasons
    (the largest score contributions) and where what it does contradicts what it says."""
    status = target["status"]
    if status == "unreachable":
        return {"level": "Not graded", "text": "No page of this target could be fetched in this "
                "scan, so nothing is known about it: this is not a clean result.",
                "concerns": [], "safeguards": [], "contradictions": []}
    if status == "not_scored":
        return {"level": "Not scored", "text": "The scan stopped before this target was "
                "analysed.", "concerns": [], "safeguards": [], "contradictions": []}
    described = {}
    for f in target["findings"]:
        described.setdefault((f.get("source"), f.get("rule_id")), f.get("rule_description"))
    contributions = target["explanation"].get("contributions") or []

    def described_contribution(c):
        text = described.get((c.get("source"), c.get("rule_id"))) or describe_finding_rule(
            c.get("rule_id"), c.get("category"), None, {})["description"]
        return {"rule_id": c.get("rule_id"), "points": c.get("points"), "description": text,
                "evidence": one_line(c.get("evidence") or "", 200)}

    risks = sorted((c for c in contributions if (c.get("points") or 0) > 0),
                   key=lambda c: -c["points"])
    concerns = [described_contribution(c) for c in risks[:VERDICT_CONCERNS]]
    safeguards = [described_contribution(c) for c in contributions
                  if c.get("kind") == "safeguard"][:2]
    contradictions = [{"rule_id": f["rule_id"], "description": f.get("rule_description"),
                       "evidence": one_line(f.get("evidence") or "", 300)}
                      for f in target["findings"] if f.get("rule_id") in CONTRADICTIONS]
    level = GRADE_LEVELS.get(target["grade"], "Graded")
    parts = [f"{level}: grade {target['grade']}, score {target['score']} of 100."]
    if target.get("audience") == "child-directed":
        parts.append("The target is aimed at children.")
    if status == "no_policy":
        parts.append("No privacy policy could be found or fetched.")
    if concerns:
        parts.append(f"The largest concern{'s are' if len(concerns) > 1 else ' is'}: "
                     + "; ".join(_sentence_part(c["description"]) for c in concerns) + ".")
    else:
        parts.append("No risk rule fired.")
    if safeguards:
        parts.append("Safeguards it states: "
                     + "; ".join(_sentence_part(c["description"]) for c in safeguards) + ".")
    if contradictions:
        parts.append(f"What it does contradicts what it says in {len(contradictions)} "
                     f"place{'s' if len(contradictions) > 1 else ''} (listed below).")
    return {"level": level, "text": " ".join(parts), "concerns": concerns,
            "safeguards": safeguards, "contradictions": contradictions}


def _sentence_part(text: str | None) -> str:
    text = (text or "").strip().rstrip(".")
    if len(text) > 1 and text[1].isupper():  # an acronym ("UK ...") keeps its case
        return text
    return text[:1].lower() + text[1:]


def _page_counts(fetches: list[dict]) -> dict:
    ok = sum(1 for f in fetches if f.get("error") is None and (f.get("status") or 0) < 400)
    return {"fetched": ok, "failed": len(fetches) - ok}


def _fetch_errors(fetches: list[dict]) -> list[dict]:
    seen, errors = set(), []
    for f in fetches:
        if f.get("error") and (f["url"], f["error"]) not in seen:
            seen.add((f["url"], f["error"]))
            errors.append({k: f.get(k) for k in ("url", "kind", "status", "error")})
    return errors


def _policies(db, fetches: list[dict], scan_id: int) -> list[dict]:
    policies, seen = [], set()
    for f in fetches:
        if f.get("kind") != "policy" or (f["url"], f.get("document_id")) in seen:
            continue
        seen.add((f["url"], f.get("document_id")))
        doc = {}
        if f.get("document_id"):
            doc = next(db.query("SELECT id, sha256, content_type, lang, title, first_seen_scan, "
                                "length FROM documents WHERE id = ?", [f["document_id"]]), {})
        policies.append({
            "url": f["url"], "final_url": f.get("final_url"), "status": f.get("status"),
            "error": f.get("error"), "discovered_by": f.get("discovered_by"),
            "fetched_at": f.get("fetched_at"), "document_id": f.get("document_id"),
            "sha256": doc.get("sha256"), "content_type": doc.get("content_type"),
            "lang": doc.get("lang"), "title": doc.get("title"), "length": doc.get("length"),
            "first_seen_scan": doc.get("first_seen_scan"),
            "new_in_this_scan": bool(doc) and doc.get("first_seen_scan") == scan_id,
        })
    # Documents first: a case officer wants the policy that was read, then the misses.
    policies.sort(key=lambda p: p["document_id"] is None)
    return policies


def _findings(db, scan_id, target_id, contributions, third_parties, recorded) -> list[dict]:
    points = {(c.get("source"), c.get("rule_id")): c.get("points") for c in contributions}
    entities = {p["rule_id"]: p.get("entity") for p in third_parties if p.get("rule_id")}
    sha = {}
    findings = []
    for row in list(db.query("SELECT * FROM findings WHERE scan_id = ? AND target_id = ? "
                             "ORDER BY id", [scan_id, target_id])):
        finding = {k: v for k, v in row.items() if k not in ("scan_id", "target_id")}
        finding["data_types"] = _json(finding.get("data_types"), [])
        # the other rules that matched the sentence in this category (m015; none before it)
        finding["also"] = _json(finding.get("also"), [])
        finding["rule_points"] = points.get((row.get("source"), row.get("rule_id")))
        doc_id = row.get("document_id")
        if doc_id and doc_id not in sha:
            found = db.execute("SELECT sha256 FROM documents WHERE id = ?", [doc_id]).fetchone()
            sha[doc_id] = found[0] if found else None
        finding["document_sha256"] = sha.get(doc_id)
        if row.get("source") == "tracker" and "entity" not in finding:
            finding["entity"] = entities.get(row.get("rule_id"))
        rule = describe_finding_rule(row.get("rule_id"), row.get("category"),
                                     row.get("polarity"), recorded)
        finding["rule_description"] = rule["description"]
        if (row.get("rule_id") or "").startswith("model.") and row.get("practice"):
            # the learned model's suggestion: its score and the features that weighed most
            detail = row["practice"].partition("(")[2].rstrip(")")
            finding["suggested_by_model"] = True
            finding["rule_description"] += f" Model score and heaviest features: {detail}."
        finding["legal_references"] = rule["references"]
        finding["rule_version"] = rule["version"]
        findings.append(finding)
    findings.sort(key=lambda f: (POLARITY_ORDER.get(f.get("polarity"), 9),
                                 SEVERITY_ORDER.get(f.get("severity"), 9),
                                 f.get("category") or "", f.get("rule_id") or "", f.get("id") or 0))
    return findings


def _third_parties(rows: list[dict]) -> list[dict]:
    """One entry per registrable domain; other columns become lists of their distinct values."""
    by_domain: dict[str, dict] = {}
    for row in rows:
        domain = row.get("domain") or row.get("host") or "?"
        entry = by_domain.setdefault(domain, {
            "domain": domain, "entity": None, "category": None, "is_data_broker": False,
            "via": [], "hosts": [], "requests": 0, "pages": [], "example_request_url":
            row.get("request_url"),
        })
        entry["entity"] = entry["entity"] or row.get("entity")
        entry["category"] = entry["category"] or row.get("category")
        entry["is_data_broker"] = entry["is_data_broker"] or bool(row.get("is_data_broker"))
        entry["requests"] += 1
        for key, target in (("via", "via"), ("host", "hosts"), ("page_url", "pages")):
            if row.get(key) and row[key] not in entry[target]:
                entry[target].append(row[key])
        for key, value in row.items():
            if key in _ROW_KEYS or key in ("domain", "entity", "category", "is_data_broker", "via",
                                           "host", "page_url", "request_url") or value is None:
                continue
            values = entry.setdefault(key + "s" if not key.endswith("s") else key, [])
            if value not in values:
                values.append(value)
    entries = list(by_domain.values())
    for entry in entries:
        entry["via"].sort()
        entry["hosts"].sort()
        entry["page_count"] = len(entry.pop("pages"))
    entries.sort(key=lambda e: (not e["is_data_broker"], e["category"] != "advertising",
                                e["entity"] is None, e["domain"]))
    return entries


def _cookies(db, scan_id, target_id) -> list[dict]:
    """One entry per cookie (name, domain) with the number of pages that set it."""
    grouped: dict[tuple, dict] = {}
    for row in db.query("SELECT * FROM cookies WHERE scan_id = ? AND target_id = ? ORDER BY id",
                        [scan_id, target_id]):
        key = (row.get("name"), row.get("domain"))
        if key not in grouped:
            grouped[key] = {k: v for k, v in row.items() if k not in _ROW_KEYS and k != "page_url"}
            grouped[key]["first_page_url"] = row.get("page_url")
            grouped[key]["page_count"] = 0
        grouped[key]["page_count"] += 1
    return sorted(grouped.values(), key=lambda c: (not c.get("third_party"), c.get("domain") or "",
                                                   c.get("name") or ""))


# Store-page fields a report shows, in this order; JSON-encoded lists are decoded.
STORE_FIELDS = (
    "url", "final_url", "status", "error", "fetched_at", "title", "developer", "category",
    "privacy_policy_url", "contains_ads", "in_app_purchases", "content_rating", "target_ages",
    "designed_for_families", "teacher_approved", "data_shared", "data_collected", "no_data_shared",
    "no_data_collected", "security_practices", "problems",
)
_STORE_LISTS = ("target_ages", "data_shared", "data_collected", "security_practices", "problems")


def app_report_data(db, scan_id: int, target_id: str, fetches: list[dict],
                    findings: list[dict]) -> dict | None:
    """The target's app in this scan: APK, SDKs, permissions, store page, app cross-checks.

    None when the scan has no app data for the target (no APK tried, no store page read).
    """
    sdks = list(db.query("SELECT * FROM app_sdks WHERE scan_id = ? AND target_id = ? ORDER BY rowid",
                         [scan_id, target_id]))
    permissions = list(db.query("SELECT * FROM app_permissions WHERE scan_id = ? AND target_id = ? "
                                "ORDER BY rowid", [scan_id, target_id]))
    listings = list(db.query("SELECT * FROM store_listings WHERE scan_id = ? AND target_id = ? "
                             "ORDER BY rowid", [scan_id, target_id]))
    apk_fetches = [f for f in fetches if f.get("kind") == "apk"]
    if not (sdks or permissions or listings or apk_fetches):
        return None
    hashes = list(dict.fromkeys(
        [f["app_sha256"] for f in apk_fetches if f.get("app_sha256")]
        + [r["app_sha256"] for r in sdks + permissions if r.get("app_sha256")]))
    apks = []
    for sha in hashes:
        row = next(db.query("SELECT * FROM apps WHERE sha256 = ?", [sha]), {"sha256": sha})
        apks.append(row)
    # Several listing rows (a retry) leave the readable one, else the last.
    listing = next((r for r in reversed(listings) if not r.get("error")),
                   listings[-1] if listings else None)
    store = None
    if listing is not None:
        store = {k: listing.get(k) for k in STORE_FIELDS}
        for key in _STORE_LISTS:
            store[key] = _json(store[key], [])
    sdk_rows = [{k: v for k, v in r.items() if k not in _ROW_KEYS} for r in sdks]
    for row in sdk_rows:
        row["child_directed_adtech"] = bool(row.get("child_directed_adtech"))
    sdk_rows.sort(key=lambda r: (r.get("category") != "advertising", r.get("entity") or "",
                                 r.get("sdk") or ""))
    permission_rows = [{"permission": r["permission"], "sensitive": bool(r.get("sensitive")),
                        "app_sha256": r.get("app_sha256")} for r in permissions]
    permission_rows.sort(key=lambda r: (not r["sensitive"], r["permission"]))
    return {
        "package": apks[0].get("package") if apks else (listing or {}).get("package"),
        "apks": apks,
        "apk_errors": [{"url": f["url"], "error": f["error"]} for f in apk_fetches if f.get("error")],
        "sdks": sdk_rows,
        "permissions": permission_rows,
        "sensitive_permissions": [r["permission"] for r in permission_rows if r["sensitive"]],
        "store": store,
        "crosschecks": [f for f in findings if f.get("rule_id") in APP_CROSSCHECK_RULES],
    }


def _json(value, default):
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return default
