"""Hold the policy to what the pages do: findings with source = 'crosscheck'."""

from __future__ import annotations


def crosscheck_findings(db, scan_id: int, target) -> list[dict]:
    rows = []
    ad_trackers = db.execute(
        """SELECT DISTINCT entity, MIN(request_url), MIN(page_url) FROM third_parties
           WHERE scan_id = ? AND target_id = ? AND category = 'advertising'
           GROUP BY entity""",
        [scan_id, target.id],
    ).fetchall()
    if target.child_directed:
        for entity, request_url, page_url in ad_trackers:
            rows.append(_finding(
                scan_id, target.id, "crosscheck.child-directed-ad-tracker", "behavioral_ads",
                "critical", f"child-directed target loads advertising tracker {entity}: {request_url}",
                page_url,
            ))
    return rows


def _finding(scan_id, target_id, rule_id, category, severity, evidence, url) -> dict:
    return {
        "scan_id": scan_id, "target_id": target_id, "source": "crosscheck", "rule_id": rule_id,
        "category": category, "practice": rule_id.split(".", 1)[1], "severity": severity,
        "polarity": "risk", "data_types": "[]", "evidence": evidence, "document_id": None,
        "start": None, "end": None, "url": url,
    }
