"""What `scanner status` and `scanner history` show: the database's recent scans and their
state, and one target's grades and key findings scan after scan."""

from __future__ import annotations

import datetime as dt
import json

from scanner.findings import SEVERITY_ORDER, one_line
from scanner.lock import describe_holder, lock_holder, read_note

STALE = "interrupted (stale)"
# Pending targets named per unfinished scan in the text format (JSON lists them all).
PENDING_SHOWN = 20
EVIDENCE_CHARS = 100


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _utc(value: str | None) -> str | None:
    """Stored times end in +00:00; shown with Z, as in the lock note."""
    return value.replace("+00:00", "Z") if value else value


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def scan_state(scan_id: int, stored_status: str, holder: dict | None, latest_id: int) -> str:
    """`scans.status`, except that a 'running' scan no live process holds the lock for is stale."""
    if stored_status != "running":
        return stored_status
    if holder is None:
        return STALE
    holder_scan = holder.get("scan_id")
    # A holder that has not named its scan yet is starting (or resuming) the latest one.
    if holder_scan == scan_id or (holder_scan is None and scan_id == latest_id):
        return "running"
    return STALE


def scan_status(db, db_path, limit: int = 10, now: dt.datetime | None = None) -> dict:
    """The `limit` latest scans with state, duration, target, finding and score counts, the
    pending targets of unfinished ones, and who holds the database's lock."""
    now = now or dt.datetime.now(dt.timezone.utc)
    holder = lock_holder(db_path)
    stale_note = read_note(db_path) if holder is None else None
    rows = db.execute("SELECT id, started_at, finished_at, status FROM scans "
                      "ORDER BY id DESC LIMIT ?", [limit]).fetchall()
    latest_id = rows[0][0] if rows else None
    scans = []
    for scan_id, started_at, finished_at, stored_status in rows:
        state = scan_state(scan_id, stored_status, holder, latest_id)
        started, finished = _parse_time(started_at), _parse_time(finished_at)
        end = finished or (now if state == "running" else None)
        targets = dict(db.execute("SELECT status, COUNT(*) FROM scan_targets WHERE scan_id = ? "
                                  "GROUP BY status", [scan_id]).fetchall())
        scores = dict(db.execute("SELECT status, COUNT(*) FROM scores WHERE scan_id = ? "
                                 "GROUP BY status", [scan_id]).fetchall())
        findings, risk_findings = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(polarity = 'risk'), 0) FROM findings WHERE scan_id = ?",
            [scan_id]).fetchone()
        by_status = {}
        for status in ("pending", "failed"):
            by_status[status] = [r[0] for r in db.execute(
                "SELECT target_id FROM scan_targets WHERE scan_id = ? AND status = ? "
                "ORDER BY target_id", [scan_id, status])]
        if not targets and scores:  # a scan from before per-target progress was recorded
            targets = {"done": sum(scores.values())}
        scans.append({
            "id": scan_id, "state": state, "status": stored_status,
            "started_at": _utc(started_at), "finished_at": _utc(finished_at),
            "duration_seconds": (end - started).total_seconds() if started and end else None,
            "targets": {"total": sum(targets.values()), "done": targets.get("done", 0),
                        "failed": targets.get("failed", 0), "pending": targets.get("pending", 0)},
            "findings": findings, "risk_findings": risk_findings,
            "scores": {name: scores.get(name, 0) for name in ("scored", "unreachable", "no_policy")},
            "pending_targets": by_status["pending"] if state != "complete" else [],
            "failed_targets": by_status["failed"],
        })
    return {"database": str(db_path),
            "lock": {"held": holder is not None, "holder": holder, "stale_note": stale_note},
            "scans": scans}


def render_status_text(status: dict) -> str:
    lock = status["lock"]
    if lock["held"]:
        lock_line = f"lock: held by {describe_holder(lock['holder'])}"
    elif lock["stale_note"]:
        lock_line = (f"lock: free (stale note of {describe_holder(lock['stale_note'], holding=False)};"
                     " the next scan clears it)")
    else:
        lock_line = "lock: free"
    lines = [f"database: {status['database']}", lock_line]
    if not status["scans"]:
        lines.append("no scans yet")
        return "\n".join(lines) + "\n"
    header = ("scan", "state", "started", "duration", "targets", "done", "failed", "pending",
              "findings", "risks", "scored", "unreachable", "no_policy")
    table = [header]
    for scan in status["scans"]:
        t, s = scan["targets"], scan["scores"]
        table.append((str(scan["id"]), scan["state"], scan["started_at"] or "-",
                      format_duration(scan["duration_seconds"]), str(t["total"]), str(t["done"]),
                      str(t["failed"]), str(t["pending"]), str(scan["findings"]),
                      str(scan["risk_findings"]), str(s["scored"]), str(s["unreachable"]),
                      str(s["no_policy"])))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    left = {1, 2}  # text columns; counts are right-aligned
    for row in table:
        cells = [cell.ljust(w) if i in left else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    for scan in status["scans"]:
        for kind in ("pending", "failed"):
            ids = scan[f"{kind}_targets"]
            if ids:
                more = f" and {len(ids) - PENDING_SHOWN} more" if len(ids) > PENDING_SHOWN else ""
                lines.append(f"scan {scan['id']} {kind} ({len(ids)}): "
                             f"{', '.join(ids[:PENDING_SHOWN])}{more}")
    if status["scans"][0]["state"] in ("interrupted", STALE):
        lines.append("the latest scan did not complete: `scanner scan TARGETS --db DB --resume` "
                     "crawls its pending targets")
    return "\n".join(lines) + "\n"


def _key_findings(db, scan_id: int, target_id: str, limit: int) -> tuple[list[dict], set[str]]:
    """The target's risk findings of a scan, one per rule, most severe first (at most `limit`),
    and the ids of every rule among them."""
    by_rule: dict[str, dict] = {}
    for rule_id, category, severity, evidence in db.execute(
            "SELECT rule_id, category, severity, evidence FROM findings WHERE scan_id = ? "
            "AND target_id = ? AND polarity = 'risk' ORDER BY id", [scan_id, target_id]):
        entry = by_rule.setdefault(rule_id, {"rule_id": rule_id, "category": category,
                                             "severity": severity, "occurrences": 0,
                                             "evidence": one_line(evidence, EVIDENCE_CHARS)})
        entry["occurrences"] += 1
    ranked = sorted(by_rule.values(), key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9),
                                                     -f["occurrences"], f["rule_id"]))
    return ranked[:limit], set(by_rule)


def _change(previous: dict | None, current: dict) -> dict:
    """What changed since the target's previous scored-or-unreachable scan."""
    if previous is None:
        return {"summary": "first scan"}
    change = {"from_scan": previous["scan_id"], "from_grade": previous["grade"],
              "from_status": previous["status"], "grade": None, "score_delta": None,
              "new_risks": sorted(current["_risk_rules"] - previous["_risk_rules"]),
              "resolved_risks": sorted(previous["_risk_rules"] - current["_risk_rules"])}
    before, after = previous["grade"], current["grade"]
    if before and after:
        # Grades run from A (best) to F: a later letter is worse.
        change["grade"] = "same" if before == after else ("worse" if after > before else "better")
        change["score_delta"] = current["score"] - previous["score"]
    parts = []
    if change["grade"] in ("better", "worse"):
        parts.append(f"{change['grade']} ({before} -> {after})")
    elif change["grade"] == "same":
        parts.append("same grade")
    if change["score_delta"]:
        parts.append(f"score {change['score_delta']:+d}")
    if previous["status"] != current["status"]:
        parts.append(f"was {previous['status']}" + (f" ({before})" if before else ""))
    if change["new_risks"]:
        parts.append("new: " + ", ".join(change["new_risks"]))
    if change["resolved_risks"]:
        parts.append("gone: " + ", ".join(change["resolved_risks"]))
    change["summary"] = "; ".join(parts) or "no change"
    return change


def target_history(db, target_id: str, findings_per_scan: int = 3) -> dict:
    """Every scan that included the target, oldest first: grade, score, status, key risk
    findings and what changed since its previous scan; LookupError for an unknown target."""
    target = db.execute("SELECT id, name, audience, homepage FROM targets WHERE id = ?",
                        [target_id]).fetchone()
    if target is None:
        raise LookupError(f"no target '{target_id}' in the database")
    rows = db.execute(
        """SELECT s.id, s.started_at, s.status, sc.score, sc.grade, sc.status, st.status
           FROM scans s
           LEFT JOIN scores sc ON sc.scan_id = s.id AND sc.target_id = :target
           LEFT JOIN scan_targets st ON st.scan_id = s.id AND st.target_id = :target
           WHERE sc.target_id IS NOT NULL OR st.target_id IS NOT NULL
           ORDER BY s.id""", {"target": target_id}).fetchall()
    entries, previous = [], None
    for scan_id, started_at, scan_status, score, grade, score_status, crawl_status in rows:
        key_findings, risk_rules = _key_findings(db, scan_id, target_id, findings_per_scan)
        entry = {"scan_id": scan_id, "started_at": _utc(started_at), "scan_status": scan_status,
                 "grade": grade, "score": score,
                 "status": score_status or f"not scored ({crawl_status})",
                 "key_findings": key_findings, "_risk_rules": risk_rules}
        if score_status:
            entry["change"] = _change(previous, entry)
            previous = entry
        else:
            entry["change"] = {"summary": "not scored in this scan"}
        entries.append(entry)
    for entry in entries:
        entry["risk_rules"] = len(entry.pop("_risk_rules"))
    return {"target": dict(zip(("id", "name", "audience", "homepage"), target, strict=True)), "scans": entries}


def render_history_text(history: dict) -> str:
    target = history["target"]
    lines = [f"{target['id']}: {target['name']} ({target['audience']}, {target['homepage']})"]
    if not history["scans"]:
        lines.append("no scan has included this target yet")
    for entry in history["scans"]:
        score = "-" if entry["score"] is None else str(entry["score"])
        lines.append(f"scan {entry['scan_id']}  {entry['started_at']}  grade {entry['grade'] or '-'}"
                     f"  score {score}  {entry['status']}  {entry['change']['summary']}")
        for finding in entry["key_findings"]:
            times = f" x{finding['occurrences']}" if finding["occurrences"] > 1 else ""
            lines.append(f"    {finding['severity']:8} {finding['rule_id']} ({finding['category']})"
                         f"{times}: {finding['evidence']}")
    return "\n".join(lines) + "\n"


def to_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
