"""Gather what a report of one scan shows, as plain data (the JSON report is exactly this)."""

from __future__ import annotations

import json

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def scan_report_data(db, scan_id: int) -> dict:
    scan = dict(db["scans"].get(scan_id))
    scan["options"] = json.loads(scan["options"] or "{}")
    targets = []
    for score in db.execute(
        """SELECT t.id, t.name, t.audience, t.homepage, t.country, s.score, s.grade, s.status,
                  s.explanation
           FROM scores s JOIN targets t ON t.id = s.target_id WHERE s.scan_id = ?
           ORDER BY (s.score IS NULL), s.score DESC, t.id""",
        [scan_id],
    ).fetchall():
        target_id, name, audience, homepage, country, value, grade, status, explanation = score
        findings = [
            dict(zip(("source", "rule_id", "category", "severity", "polarity", "evidence", "url",
                      "document_id", "start", "end"), row))
            for row in db.execute(
                """SELECT source, rule_id, category, severity, polarity, evidence, url,
                          document_id, start, "end"
                   FROM findings WHERE scan_id = ? AND target_id = ?""",
                [scan_id, target_id],
            ).fetchall()
        ]
        findings.sort(key=lambda f: (f["polarity"] != "risk", SEVERITY_ORDER[f["severity"]],
                                     f["category"], f["rule_id"]))
        third_parties = [
            dict(zip(("domain", "entity", "category", "is_data_broker", "requests"), row))
            for row in db.execute(
                """SELECT domain, entity, category, MAX(is_data_broker), COUNT(*)
                   FROM third_parties WHERE scan_id = ? AND target_id = ?
                   GROUP BY domain ORDER BY entity IS NULL, domain""",
                [scan_id, target_id],
            ).fetchall()
        ]
        policies = [
            dict(zip(("url", "final_url", "status", "error", "document_id", "lang", "title"), row))
            for row in db.execute(
                """SELECT f.url, f.final_url, f.status, f.error, f.document_id, d.lang, d.title
                   FROM fetches f LEFT JOIN documents d ON d.id = f.document_id
                   WHERE f.scan_id = ? AND f.target_id = ? AND f.kind = 'policy'""",
                [scan_id, target_id],
            ).fetchall()
        ]
        targets.append({
            "id": target_id, "name": name, "audience": audience, "homepage": homepage,
            "country": country, "score": value, "grade": grade, "status": status,
            "explanation": json.loads(explanation or "{}"), "findings": findings,
            "third_parties": third_parties, "policies": policies,
        })
    return {"scan": scan, "targets": targets}
