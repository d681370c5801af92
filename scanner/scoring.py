"""A transparent risk score per target: each distinct risk finding adds points by severity."""

from __future__ import annotations

import json

SEVERITY_POINTS = {"critical": 30, "high": 15, "medium": 8, "low": 3, "info": 0}
NO_POLICY_POINTS = 25
GRADE_BOUNDS = (("A", 10), ("B", 25), ("C", 45), ("D", 65), ("F", 100))


def grade_for(score: int) -> str:
    for grade, bound in GRADE_BOUNDS:
        if score <= bound:
            return grade
    return "F"


def score_target(db, scan_id: int, target) -> dict:
    """The scores row for one target of a scan, with the findings that produced it."""
    fetches = list(db["fetches"].rows_where("scan_id = ? AND target_id = ?", [scan_id, target.id]))
    reachable = any(f["error"] is None and f["status"] and f["status"] < 400 for f in fetches)
    has_policy = any(f["document_id"] for f in fetches if f["kind"] == "policy")
    row = {"scan_id": scan_id, "target_id": target.id}
    if not reachable and not has_policy:
        errors = sorted({f"{f['url']}: {f['error']}" for f in fetches if f["error"]})
        return {**row, "score": None, "grade": None, "status": "unreachable",
                "explanation": json.dumps({"reason": "no page of the target could be fetched",
                                           "errors": errors[:10]})}
    findings = db.execute(
        """SELECT source, rule_id, category, severity, polarity, MIN(evidence) AS evidence,
                  COUNT(*) AS occurrences
           FROM findings WHERE scan_id = ? AND target_id = ?
           GROUP BY source, rule_id, category, severity, polarity
           ORDER BY source, rule_id""",
        [scan_id, target.id],
    ).fetchall()
    contributions, protective = [], []
    for source, rule_id, category, severity, polarity, evidence, occurrences in findings:
        entry = {"source": source, "rule_id": rule_id, "category": category,
                 "severity": severity, "occurrences": occurrences, "evidence": evidence[:300]}
        if polarity == "risk":
            contributions.append({**entry, "points": SEVERITY_POINTS[severity]})
        elif polarity == "protective":
            protective.append(entry)
    if not has_policy:
        contributions.append({"source": "scan", "rule_id": "policy.missing", "category": "policy",
                              "severity": "high", "occurrences": 1, "points": NO_POLICY_POINTS,
                              "evidence": "no privacy policy could be found or fetched"})
    contributions.sort(key=lambda c: -c["points"])
    score = min(100, sum(c["points"] for c in contributions))
    explanation = {
        "method": "sum of points per distinct risk rule (critical 30, high 15, medium 8, low 3), "
                  "capped at 100; grade A<=10, B<=25, C<=45, D<=65, F above",
        "contributions": contributions,
        "protective": protective,
    }
    return {**row, "score": score, "grade": grade_for(score),
            "status": "scored" if has_policy else "no_policy",
            "explanation": json.dumps(explanation, ensure_ascii=False)}
