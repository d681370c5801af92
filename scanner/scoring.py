"""The risk score of a target (docs/scoring.md): distinct facts earn points, capped per category.

A fact (a policy sentence, a tracker, an SDK, a cross-check about one entity) counts once at its
highest contribution, so the number of rules that fire on it, or the language it is written in,
does not change the score. Child-directed targets weigh the practices COPPA and PDPA single out
more heavily; stated safeguards take a bounded number of points off.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math

MODEL_VERSION = 2
SEVERITY_POINTS = {"critical": 16, "high": 10, "medium": 5, "low": 2, "info": 0}
# Collection is weighed by what is collected, not by each rule's severity: the English and Thai
# rule sets rate the same data type differently (contact is low in one, medium in the other).
DATA_TYPE_POINTS = {
    "biometrics": 10, "health": 10, "precise_location": 10, "audio_video": 10, "photos": 10,
    "contacts": 10,
    "identifiers": 5, "financial": 5, "education": 5,
    "contact": 2, "age": 2, "coarse_location": 2, "location": 2, "usage": 2, "device": 2,
    # "We collect personal data" names nothing: the English rules call it neutral, the Thai
    # rules a low risk; it earns nothing here so that both languages score alike.
    "personal_data": 0,
}
# Full points up to the cap; past it each further fact adds OVERFLOW_POINTS, at most
# OVERFLOW_LIMIT in all, so one category cannot carry a grade yet a removed fact still shows.
CATEGORY_CAPS = {
    "behavioral_ads": 12, "sale": 12, "children": 10, "collection": 10,
    "third_party_sharing": 10, "tracking": 10, "retention": 3, "transfer": 3, "user_rights": 3,
    "policy": 25,
}
DEFAULT_CAP = 8
OVERFLOW_POINTS = 1
OVERFLOW_LIMIT = 10
# A sentence that fires rules of several categories is counted in the first of these among its
# highest contributions; the order only breaks ties.
CATEGORY_PRIORITY = ("sale", "behavioral_ads", "children", "third_party_sharing", "tracking",
                     "collection", "retention", "transfer", "user_rights")

ESCALATION_FACTOR = 1.5
ESCALATED_CATEGORIES = {"behavioral_ads": "behavioural advertising", "sale": "sale of data"}
ESCALATED_DATA_TYPES = {"precise_location": "precise location", "photos": "photos of children",
                        "audio_video": "voice or video of children",
                        "biometrics": "biometrics of children"}
ESCALATED_SHARING = {"advertisers": "sharing with advertisers",
                     "advertising": "sharing with advertisers",
                     "custom-audience": "sharing with advertisers",
                     "data-brokers": "sharing with data brokers"}

SAFEGUARD_POINTS = 3
SAFEGUARD_CAP = 10
# Which safeguards are credited first when the bound leaves room for only some: parental
# consent and a parent's access come before general commitments.
SAFEGUARD_ORDER = ("children", "user_rights", "retention", "sale", "third_party_sharing",
                   "behavioral_ads", "tracking", "collection", "transfer")
NO_POLICY_POINTS = 25
GRADE_BOUNDS = (("A", 10), ("B", 25), ("C", 40), ("D", 55), ("F", 100))
METHOD = (
    "each distinct fact (policy sentence, tracker, SDK, cross-check) counts once at its highest "
    "points (critical 16, high 10, medium 5, low 2; collection by data type); x1.5 on a "
    "child-directed target for behavioural ads, sale, data brokers, precise location, "
    "photos/voice/biometrics (and the cap of their category); per category full points up to its "
    f"cap, then 1 point per further fact (at most {OVERFLOW_LIMIT}); safeguards "
    f"-{SAFEGUARD_POINTS} per category (at most "
    f"-{SAFEGUARD_CAP}, never more than half the risk points); grade A<=10, B<=25, C<=40, D<=55, "
    "F above"
)


def grade_for(score: int) -> str:
    for grade, bound in GRADE_BOUNDS:
        if score <= bound:
            return grade
    return "F"


def score_target(db, scan_id: int, target, known: dict | None = None,
                 findings: list[dict] | None = None) -> dict:
    """The scores row for one target of a scan, with every contribution to the score.

    known: a dict that, when given, receives {(scan_id, target id): (explanation, facts)} for
    store_scores, which then need not read and group the target's findings a second time.
    findings: the target's target_findings, when already read."""
    fetches = list(db["fetches"].rows_where("scan_id = ? AND target_id = ?", [scan_id, target.id]))
    reachable = any(f["error"] is None and f["status"] and f["status"] < 400 for f in fetches)
    has_policy = any(f["document_id"] for f in fetches if f["kind"] == "policy")
    row = {"scan_id": scan_id, "target_id": target.id}
    if not reachable and not has_policy:
        errors = sorted({f"{f['url']}: {f['error']}" for f in fetches if f["error"]})
        return {**row, "score": None, "grade": None, "status": "unreachable",
                "explanation": json.dumps({"reason": "no page of the target could be fetched",
                                           "errors": errors[:10]})}
    if findings is None:
        findings = target_findings(db, scan_id, target.id)
    rules = tracker_rules(db, scan_id, target.id)
    # Grouped once, safeguards picked once: for the explanation and for the stored facts.
    groups, safeguards = _group_facts(findings, rules), [f for f in findings if is_safeguard(f)]
    explanation = _explain(findings, groups, safeguards, child_directed=target.child_directed,
                           has_policy=has_policy)
    if known is not None:
        known[(scan_id, target.id)] = (explanation,
                                       _grouped_facts(db, groups, safeguards))
    score = explanation["score"]
    return {**row, "score": score, "grade": grade_for(score),
            "status": "scored" if has_policy else "no_policy",
            "explanation": json.dumps(explanation, ensure_ascii=False)}


SCORE_COLUMNS = ("scan_id", "target_id", "score", "grade", "status")


def store_scores(db, rows: list[dict], known: dict | None = None) -> None:
    """Write scores rows (as score_target makes them): each distinct explanation is stored once,
    by sha256, in the form stored_explanation gives; `scores` reads them back. Plain statements
    on the open transaction (merge copies a shard in one). known: what score_target put in its
    `known` for these rows."""
    for row in rows:
        explanation = row.get("explanation")
        digest = None
        if explanation is not None:
            made = (known or {}).get((row["scan_id"], row["target_id"]))
            text = stored_explanation(db, row["scan_id"], row["target_id"], explanation, made)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            db.execute("INSERT OR IGNORE INTO explanations (sha256, explanation) VALUES (?, ?)",
                       [digest, text])
        db.execute(f"INSERT OR REPLACE INTO scan_scores ({', '.join(SCORE_COLUMNS)}, "
                   f"explanation_sha256) VALUES ({', '.join('?' * len(SCORE_COLUMNS))}, ?)",
                   [*(row.get(c) for c in SCORE_COLUMNS), digest])


def stored_explanation(db, scan_id: int, target_id: str, explanation, made=None) -> str:
    """The explanation as stored: each contribution names its fact (fact_key, with a document's
    sha256 for its id) instead of this scan's finding ids, so an unchanged target's explanation
    is the same text in every scan. A contribution whose findings are not in the database keeps
    its finding ids. made: (the explanation as a dict, the target's _facts) when score_target
    has them, else both are read again."""
    if made is not None:
        data, facts = made
    else:
        data = json.loads(explanation) if isinstance(explanation, str) else explanation
        facts = None
    contributions = data.get("contributions") if isinstance(data, dict) else None
    if not contributions:
        return explanation if isinstance(explanation, str) else json.dumps(
            explanation, ensure_ascii=False)
    if facts is None:
        facts = _facts(db, scan_id, target_id)
    fact_of = {finding_id: fact for fact, ids in facts.items() for finding_id in ids}
    stored = []
    for contribution in contributions:
        ids = contribution.get("finding_ids") if isinstance(contribution, dict) else None
        fact = fact_of.get(ids[0]) if isinstance(ids, list) and ids else None
        if fact is None or facts[fact] != ids:
            stored.append(contribution)  # not one fact of this scan's findings: kept as it is
            continue
        stored.append(_renamed(contribution, "finding_ids", "fact", list(fact)))
    return json.dumps({**data, "contributions": stored}, ensure_ascii=False)


def load_explanation(db, scan_id: int, target_id: str, stored: str | None = None) -> dict:
    """A scores row's explanation as score_target made it: each contribution's fact becomes the
    finding ids of this scan again. stored: the `scores.explanation` text, when already read."""
    if stored is None:
        row = db.execute("SELECT explanation FROM scores WHERE scan_id = ? AND target_id = ?",
                         [scan_id, target_id]).fetchone()
        stored = row[0] if row else None
    try:
        data = json.loads(stored or "{}")
    except ValueError:
        return {}
    contributions = data.get("contributions") if isinstance(data, dict) else None
    if not contributions or not any(isinstance(c, dict) and "fact" in c for c in contributions):
        return data if isinstance(data, dict) else {}
    facts = _facts(db, scan_id, target_id)
    data["contributions"] = [
        _renamed(c, "fact", "finding_ids", list(facts.get(_fact_tuple(c["fact"]), [])))
        if isinstance(c, dict) and "fact" in c else c for c in contributions]
    return data


def _renamed(contribution: dict, old: str, new: str, value) -> dict:
    """The contribution with one key replaced in its place (the JSON keeps its order)."""
    return {(new if key == old else key): (value if key == old else v)
            for key, v in contribution.items()}


def _fact_tuple(fact) -> tuple:
    return tuple(fact) if isinstance(fact, list) else ()


def _facts(db, scan_id: int, target_id: str, findings: list[dict] | None = None,
           rules: dict | None = None) -> dict[tuple, list[int]]:
    """{stored fact: finding ids} of one target in one scan, risk facts and safeguards; a
    sentence fact names its document by sha256 (its id differs between databases). findings,
    rules: its target_findings and tracker_rules, when already read."""
    if findings is None or rules is None:
        findings = target_findings(db, scan_id, target_id)
        rules = tracker_rules(db, scan_id, target_id)
    return _grouped_facts(db, _group_facts(findings, rules),
                          [f for f in findings if is_safeguard(f)])


def _grouped_facts(db, groups: dict, safeguards: list[dict]) -> dict[tuple, list[int]]:
    """_facts from the target's risk findings grouped by fact (_group_facts) and its
    safeguards (is_safeguard), in findings order."""
    document_ids = sorted({key[1] for key in groups if key[0] == "sentence"})
    sha256 = dict(db.execute(
        f"SELECT id, sha256 FROM documents WHERE id IN ({', '.join('?' * len(document_ids))})",
        document_ids).fetchall()) if document_ids else {}
    facts = {}
    for key, members in groups.items():
        if key[0] == "sentence":
            key = ("sentence", sha256.get(key[1], key[1]), *key[2:])
        facts[key] = [f["id"] for f in members]
    for f in safeguards:
        facts.setdefault(("safeguard", f["category"]), []).append(f["id"])
    return facts


FINDING_COLUMNS = ("id", "source", "rule_id", "category", "practice", "severity", "polarity",
                   "data_types", "evidence", "document_id", "start", "end")


def target_findings(db, scan_id: int, target_id: str, *, source: str | None = None,
                    columns: tuple[str, ...] = FINDING_COLUMNS) -> list[dict]:
    """The findings rows (the columns scoring reads, or these) of one target in one scan, or
    only those of one source, in id order."""
    where = "scan_id = ? AND target_id = ?" + (" AND source = ?" if source else "")
    return [dict(zip(columns, values, strict=True)) for values in db.execute(
        f"SELECT {', '.join(f'[{c}]' for c in columns)} FROM findings WHERE {where} ORDER BY id",
        [scan_id, target_id, *([source] if source else [])],
    ).fetchall()]


def tracker_rules(db, scan_id: int, target_id: str) -> dict:
    """Request URL -> the tracker rule that matched it, for one target in one scan."""
    return dict(db.execute(
        """SELECT request_url, MIN(rule_id) FROM third_parties
           WHERE scan_id = ? AND target_id = ? AND rule_id IS NOT NULL GROUP BY request_url""",
        [scan_id, target_id],
    ).fetchall())


def explain(findings: list[dict], *, child_directed: bool, has_policy: bool = True,
            tracker_rules: dict | None = None) -> dict:
    """The score of a target's findings rows and how every point of it came about.

    tracker_rules maps a request URL to the tracker rule that matched it (third_parties rows).
    """
    return _explain(findings, _group_facts(findings, tracker_rules or {}),
                    [f for f in findings if is_safeguard(f)], child_directed=child_directed,
                    has_policy=has_policy)


def _explain(findings: list[dict], groups: dict, safeguard_rows: list[dict], *,
             child_directed: bool, has_policy: bool) -> dict:
    """explain, from the findings' risk facts (_group_facts) and safeguards (is_safeguard)."""
    facts = [_fact(group, child_directed) for group in groups.values()]
    if not has_policy:
        facts.append({"source": "scan", "rule_id": "policy.missing", "category": "policy",
                      "severity": "high", "kind": "no_policy", "uncapped_points": NO_POLICY_POINTS,
                      "points": NO_POLICY_POINTS, "cap_applied": False, "escalation": None,
                      "basis": "no policy",
                      "finding_ids": [], "rules": [], "occurrences": 1,
                      "evidence": "no privacy policy could be found or fetched"})
    categories = _apply_caps(facts, child_directed)
    risk_points = sum(f["points"] for f in facts)
    safeguards = _safeguards(safeguard_rows, risk_points)
    contributions = sorted(facts, key=lambda f: (-f["points"], -f["uncapped_points"],
                                                 f["category"], f["rule_id"]))
    contributions += safeguards
    score = max(0, min(100, sum(c["points"] for c in contributions)))
    return {
        "model": MODEL_VERSION,
        "method": METHOD,
        "child_directed": child_directed,
        "risk_points": risk_points,
        "safeguard_points": sum(s["points"] for s in safeguards),
        "score": score,
        "categories": categories,
        "contributions": contributions,
        "protective": _protective(findings),
    }


def _group_facts(findings: list[dict], tracker_rules: dict) -> dict:
    """Risk findings grouped by the fact they state, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for f in findings:
        if f["polarity"] == "risk":
            groups.setdefault(fact_key(f, tracker_rules), []).append(f)
    return groups


def fact_key(finding: dict, tracker_rules: dict | None = None) -> tuple:
    """What makes two findings one fact: the same sentence, or the same rule on any page."""
    if finding["source"] == "policy" and finding["document_id"] and finding["start"] is not None:
        return ("sentence", finding["document_id"], finding["start"], finding["end"])
    if finding["source"] == "crosscheck":
        if finding["rule_id"] == "crosscheck.child-directed-ad-tracker":
            # The tracker's own finding, weighed for a child audience: one request, one fact.
            request_url = (finding["evidence"] or "").rsplit(": ", 1)[-1]
            if request_url in (tracker_rules or {}):
                return ("tracker", tracker_rules[request_url])
        # One per entity and check: the evidence names the entity and its first request.
        return ("crosscheck", finding["rule_id"], finding["category"], finding["evidence"])
    return (finding["source"], finding["rule_id"])


def _fact(group: list[dict], child_directed: bool) -> dict:
    scored = [(finding_points(f, child_directed), f) for f in group]
    (points, base, basis, escalation), top = max(
        scored, key=lambda pf: (pf[0][0], -_priority(pf[1]["category"]), -pf[1]["id"]))
    return {
        "source": top["source"], "rule_id": top["rule_id"], "category": top["category"],
        "severity": top["severity"], "kind": "risk", "uncapped_points": points,
        "points": points, "cap_applied": False, "basis": basis, "escalation": escalation,
        "escalated_from": base if escalation else None,
        "finding_ids": [f["id"] for f in group],
        "rules": list(dict.fromkeys(f["rule_id"] for f in group)),
        "occurrences": len(group), "evidence": (top["evidence"] or "")[:300],
    }


def _priority(category: str) -> int:
    if category in CATEGORY_PRIORITY:
        return CATEGORY_PRIORITY.index(category)
    return len(CATEGORY_PRIORITY)


def finding_points(finding: dict, child_directed: bool) -> tuple[int, int, str, str | None]:
    """(points, points before escalation, what they rest on, escalation reason or None)."""
    raw = finding.get("data_types")
    if raw is not None and not isinstance(raw, str):
        return _finding_points(finding, child_directed)  # a list: not a key to remember by
    return _remembered_points(finding["category"], finding["severity"], raw,
                              finding.get("practice"), finding.get("rule_id"), child_directed)


@functools.lru_cache(maxsize=4096)
def _remembered_points(category, severity, data_types, practice, rule_id,
                       child_directed: bool) -> tuple[int, int, str, str | None]:
    """finding_points of the fields it reads: a scan's findings repeat a few hundred rules."""
    return _finding_points({"category": category, "severity": severity, "data_types": data_types,
                            "practice": practice, "rule_id": rule_id}, child_directed)


def _finding_points(finding: dict, child_directed: bool) -> tuple[int, int, str, str | None]:
    types = _data_types(finding)
    weighed = [DATA_TYPE_POINTS[t] for t in types if t in DATA_TYPE_POINTS]
    if finding["category"] == "collection" and weighed:
        base = max(weighed)
        basis = "data type " + max((t for t in types if t in DATA_TYPE_POINTS),
                                   key=DATA_TYPE_POINTS.get)
    else:
        base = SEVERITY_POINTS.get(finding["severity"], 0)
        basis = f"severity {finding['severity']}"
    reason = escalation_reason(finding, types) if child_directed else None
    # Critical is the top of the scale: findings that are critical because the target is
    # child-directed (a cross-check, an ad SDK in a kids' app) are not raised a second time.
    points = min(max(base, SEVERITY_POINTS["critical"]), math.ceil(base * ESCALATION_FACTOR))
    if not reason or points == base:
        return base, base, basis, None
    return points, base, basis, reason


def escalation_reason(finding: dict, types: list[str]) -> str | None:
    """Why a finding weighs more on a child-directed target, or None."""
    category = finding["category"]
    if category in ESCALATED_CATEGORIES:
        return ESCALATED_CATEGORIES[category]
    if category == "collection":
        for data_type in types:
            if data_type in ESCALATED_DATA_TYPES:
                return ESCALATED_DATA_TYPES[data_type]
    if category == "third_party_sharing":
        return ESCALATED_SHARING.get(practice_of(finding))
    return None


def practice_of(finding: dict) -> str:
    """The practice without the language prefix: 'th-data-brokers' and 'data-brokers' are one."""
    practice = finding.get("practice") or finding["rule_id"].split(".", 1)[-1]
    practice = practice.removesuffix(".denied")
    return practice[3:] if practice.startswith("th-") else practice


def _data_types(finding: dict) -> list[str]:
    raw = finding.get("data_types")
    if not raw:
        return []
    if isinstance(raw, str):
        return list(_parsed_data_types(raw))
    return [t for t in raw if isinstance(t, str)]


@functools.lru_cache(maxsize=4096)
def _parsed_data_types(raw: str) -> tuple[str, ...]:
    """A findings row's data_types JSON, parsed once: a scan's findings repeat a few dozen."""
    try:
        types = json.loads(raw)
    except ValueError:
        return ()
    return tuple(t for t in types if isinstance(t, str))


def category_cap(category: str, escalated: bool) -> int:
    """A category's cap, raised like the points where escalation applies."""
    cap = CATEGORY_CAPS.get(category, DEFAULT_CAP)
    return math.ceil(cap * ESCALATION_FACTOR) if escalated else cap


def _apply_caps(facts: list[dict], child_directed: bool) -> dict:
    """Cut each category's facts to its cap (plus overflow); return the per-category totals."""
    by_category: dict[str, list[dict]] = {}
    for fact in facts:
        by_category.setdefault(fact["category"], []).append(fact)
    totals = {}
    for category, members in sorted(by_category.items()):
        escalated = child_directed and (category in ESCALATED_CATEGORIES
                                        or any(f["escalation"] for f in members))
        cap = category_cap(category, escalated)
        counted = overflow = 0
        for fact in sorted(members, key=lambda f: -f["uncapped_points"]):
            if not fact["uncapped_points"]:
                continue
            room = cap - counted
            if fact["uncapped_points"] <= room:
                points = fact["uncapped_points"]
            elif room > 0:
                points = room
            else:
                points = min(OVERFLOW_POINTS, OVERFLOW_LIMIT - overflow)
                overflow += points
            fact["points"] = points
            fact["cap_applied"] = points < fact["uncapped_points"]
            counted += points
        totals[category] = {"cap": cap, "facts": len(members),
                            "points_before_cap": sum(f["uncapped_points"] for f in members),
                            "points": sum(f["points"] for f in members)}
    return totals


def is_safeguard(finding: dict) -> bool:
    """A protective commitment (parental consent, deletion, limits), not a bare denial."""
    if finding["polarity"] != "protective" or finding["rule_id"].endswith(".denied"):
        return False
    return "denial" not in practice_of(finding)


def _safeguards(safeguard_rows: list[dict], risk_points: int) -> list[dict]:
    """One safeguard per category, each -SAFEGUARD_POINTS, bounded by the cap and half the risk.
    safeguard_rows: the findings that are safeguards (is_safeguard), in findings order."""
    by_category: dict[str, list[dict]] = {}
    for f in safeguard_rows:
        by_category.setdefault(f["category"], []).append(f)
    room = min(SAFEGUARD_CAP, risk_points // 2)
    rows = []
    order = {category: i for i, category in enumerate(SAFEGUARD_ORDER)}
    for category, members in sorted(by_category.items(),
                                    key=lambda item: (order.get(item[0], len(order)), item[0])):
        points = min(SAFEGUARD_POINTS, room)
        room -= points
        top = members[0]
        rows.append({
            "source": top["source"], "rule_id": top["rule_id"], "category": category,
            "severity": top["severity"], "kind": "safeguard", "uncapped_points": -SAFEGUARD_POINTS,
            "points": -points, "basis": "safeguard", "escalation": None,
            "cap_applied": points < SAFEGUARD_POINTS,
            "finding_ids": [f["id"] for f in members],
            "rules": list(dict.fromkeys(f["rule_id"] for f in members)),
            "occurrences": len(members), "evidence": (top["evidence"] or "")[:300],
        })
    return rows


def _protective(findings: list[dict]) -> list[dict]:
    """Every protective finding, one entry per rule (the report's 'protective statements')."""
    entries: dict[tuple, dict] = {}
    for f in findings:
        if f["polarity"] != "protective":
            continue
        entry = entries.setdefault((f["source"], f["rule_id"]), {
            "source": f["source"], "rule_id": f["rule_id"], "category": f["category"],
            "severity": f["severity"], "occurrences": 0, "evidence": (f["evidence"] or "")[:300],
            "safeguard": is_safeguard(f)})
        entry["occurrences"] += 1
    return sorted(entries.values(), key=lambda e: (e["source"], e["rule_id"]))
