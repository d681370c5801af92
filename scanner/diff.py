"""What changed between two scans, per target: status, grade, score, findings, third parties,
policies, and the app: SDKs and permissions added or removed, store-page declarations changed.

A finding is identified by its rule id and its evidence (whitespace collapsed; for tracker and
crosscheck findings the query string of any URL in the evidence is dropped, because ad requests
carry cache-busters that change on every visit). A policy document changed when the same policy
URL now yields a text with a different sha256. reports/diff.py renders the result.
"""

from __future__ import annotations

import difflib
import json
import re

from scanner.crosscheck import APP_CROSSCHECK_RULES
from scanner.findings import POLARITY_ORDER, SEVERITY_ORDER
from scanner.store import resolve_scan_id

DIFF_FORMAT_VERSION = 1
MAX_CHANGED_LINES = 20
# Store-page declarations compared between scans (store_listings columns); lists are compared
# as the data types they name.
STORE_DECLARATIONS = (
    "contains_ads", "in_app_purchases", "no_data_shared", "no_data_collected", "data_shared",
    "data_collected", "target_ages", "designed_for_families", "teacher_approved",
    "content_rating", "privacy_policy_url",
)
_STORE_LISTS = ("data_shared", "data_collected", "target_ages")

_URL_QUERY = re.compile(r"(https?://[^\s?#()]+)[?#][^\s()]*")


class DiffError(LookupError):
    """The scans to compare cannot be found."""


def resolve_diff_scans(db, from_scan=None, to_scan=None) -> tuple[int, int]:
    """Pick the two scans to compare: by default the last two; --to alone compares with the one before."""
    to_id = resolve_scan_id(db, to_scan)
    if from_scan in (None, "previous"):
        row = db.execute("SELECT MAX(id) FROM scans WHERE id < ?", [to_id]).fetchone()
        if row[0] is None:
            raise DiffError(f"scan {to_id} is the first scan of this database: nothing to compare "
                            f"it with (scan again, or pass --from)")
        return row[0], to_id
    return resolve_scan_id(db, from_scan), to_id


def previous_scan_for_target(db, target_id: str, scan_id: int) -> int | None:
    """The latest earlier scan in which this target was scored, or None."""
    row = db.execute("SELECT MAX(scan_id) FROM scores WHERE target_id = ? AND scan_id < ?",
                     [target_id, scan_id]).fetchone()
    return row[0] if row else None


def finding_key(finding: dict) -> tuple[str, str]:
    evidence = " ".join((finding.get("evidence") or "").split())
    if finding.get("source") in ("tracker", "crosscheck"):
        evidence = _URL_QUERY.sub(r"\1", evidence)
    return finding.get("rule_id") or "", evidence


def diff_scans(db, from_id: int, to_id: int, target_ids=None) -> dict:
    """Per-target differences between scan from_id and scan to_id (targets of either scan)."""
    scans = {sid: _scan_row(db, sid) for sid in (from_id, to_id)}
    in_scan = {sid: _scan_target_ids(db, sid) for sid in (from_id, to_id)}
    ids = sorted(in_scan[from_id] | in_scan[to_id])
    if target_ids is not None:
        ids = [t for t in ids if t in set(target_ids)]
    targets = [diff_target(db, target_id, from_id if target_id in in_scan[from_id] else None,
                           to_id if target_id in in_scan[to_id] else None)
               for target_id in ids]
    return {
        "diff_format": DIFF_FORMAT_VERSION,
        "from_scan": scans[from_id],
        "to_scan": scans[to_id],
        "rules_changed": scans[from_id]["rules_version"] != scans[to_id]["rules_version"],
        "summary": _summary(targets),
        "targets": targets,
    }


def diff_target(db, target_id: str, from_id: int | None, to_id: int | None) -> dict:
    """Differences for one target; a None scan means the target was not part of that scan."""
    before = _snapshot(db, target_id, from_id) if from_id is not None else None
    after = _snapshot(db, target_id, to_id) if to_id is not None else None
    name_row = db.execute("SELECT name FROM targets WHERE id = ?", [target_id]).fetchone()
    empty = _empty_snapshot()
    old, new = before or empty, after or empty
    # An unreachable scan saw nothing: what it lacks was not resolved, it was not observed.
    observed_both = (before is not None and after is not None
                     and "unreachable" not in (old["score"]["status"], new["score"]["status"]))
    result = {
        "target_id": target_id,
        "name": name_row[0] if name_row else target_id,
        "from_scan_id": from_id,
        "to_scan_id": to_id,
        "presence": "both" if before and after else ("added" if after else "removed"),
        "before": old["score"] if before else None,
        "after": new["score"] if after else None,
        "comparable": observed_both,
        "status_changed": bool(before and after) and old["score"]["status"] != new["score"]["status"],
        "grade_changed": bool(before and after) and old["score"]["grade"] != new["score"]["grade"],
        "score_delta": (new["score"]["score"] - old["score"]["score"]
                        if before and after and old["score"]["score"] is not None
                        and new["score"]["score"] is not None else None),
        "new_findings": [], "resolved_findings": [],
        "new_third_parties": [], "gone_third_parties": [],
        "policy_documents": {"changed": [], "added": [], "removed": []},
        "app": app_changes(old["app"], new["app"]) if before and after else None,
    }
    if observed_both:
        seen = _observed_in_both(result["app"])
        result["new_findings"] = _sorted_findings(
            new["findings"][k] for k in new["findings"].keys() - old["findings"].keys()
            if seen(new["findings"][k]))
        result["resolved_findings"] = _sorted_findings(
            old["findings"][k] for k in old["findings"].keys() - new["findings"].keys()
            if seen(old["findings"][k]))
        result["new_third_parties"] = [new["domains"][d] for d in
                                       sorted(new["domains"].keys() - old["domains"].keys())]
        result["gone_third_parties"] = [old["domains"][d] for d in
                                        sorted(old["domains"].keys() - new["domains"].keys())]
        result["policy_documents"] = _policy_changes(db, old["policies"], new["policies"])
    result["changed"] = bool(
        result["presence"] != "both" or result["status_changed"] or result["grade_changed"]
        or result["score_delta"] or result["new_findings"] or result["resolved_findings"]
        or result["new_third_parties"] or result["gone_third_parties"]
        or any(result["policy_documents"].values())
        or bool(result["app"] and result["app"]["changed"]))
    return result


def _observed_in_both(app: dict | None):
    """A predicate: was this finding's evidence looked at in both scans? App findings need the APK
    analysed in both, store findings the store page read in both."""
    apk_both = bool(app and app["comparable"])
    store_both = bool(app and app["store_comparable"])

    def seen(finding: dict) -> bool:
        if finding["source"] == "app" or finding["rule_id"] in APP_CROSSCHECK_RULES:
            return apk_both
        if finding["source"] == "store":
            return store_both
        return True

    return seen


def app_changes(old: dict | None, new: dict | None) -> dict | None:
    """SDKs, permissions and store declarations that differ; None when neither scan had an app.

    SDKs and permissions are compared only when both scans analysed an APK, declarations only when
    both read the store page: what a failed download did not show was not removed.
    """
    if old is None and new is None:
        return None
    old, new = old or _empty_app(), new or _empty_app()
    result = {
        "before": old["apk"], "after": new["apk"],
        "apk_changed": bool(old["apk"] and new["apk"]
                            and old["apk"]["sha256"] != new["apk"]["sha256"]),
        "comparable": bool(old["apk"] and new["apk"]),
        "store_comparable": bool(old["store"] and new["store"]),
        "new_sdks": [], "gone_sdks": [], "new_permissions": [], "gone_permissions": [],
        "store_changes": [],
    }
    if result["comparable"]:
        result["new_sdks"] = [new["sdks"][k] for k in sorted(new["sdks"].keys() - old["sdks"].keys())]
        result["gone_sdks"] = [old["sdks"][k] for k in sorted(old["sdks"].keys() - new["sdks"].keys())]
        result["new_permissions"] = [new["permissions"][k] for k in
                                     sorted(new["permissions"].keys() - old["permissions"].keys())]
        result["gone_permissions"] = [old["permissions"][k] for k in
                                      sorted(old["permissions"].keys() - new["permissions"].keys())]
    if result["store_comparable"]:
        result["store_changes"] = [
            {"declaration": key, "before": old["store"][key], "after": new["store"][key]}
            for key in STORE_DECLARATIONS if old["store"][key] != new["store"][key]]
    result["changed"] = bool(result["apk_changed"] or result["new_sdks"] or result["gone_sdks"]
                             or result["new_permissions"] or result["gone_permissions"]
                             or result["store_changes"])
    return result


def _empty_app() -> dict:
    return {"apk": None, "sdks": {}, "permissions": {}, "store": None}


def _app_snapshot(db, target_id: str, scan_id: int) -> dict | None:
    """The app as one scan saw it; None when the scan tried neither an APK nor a store page."""
    app = _empty_app()
    hashes = [r[0] for r in db.execute(
        """SELECT app_sha256 FROM fetches WHERE scan_id = ? AND target_id = ? AND kind = 'apk'
             AND app_sha256 IS NOT NULL
           UNION ALL SELECT app_sha256 FROM app_sdks WHERE scan_id = ? AND target_id = ?
           UNION ALL SELECT app_sha256 FROM app_permissions WHERE scan_id = ? AND target_id = ?""",
        [scan_id, target_id] * 3).fetchall() if r[0]]
    tried = db.execute("SELECT 1 FROM fetches WHERE scan_id = ? AND target_id = ? AND kind = 'apk'",
                       [scan_id, target_id]).fetchone()
    listings = list(db.query("SELECT * FROM store_listings WHERE scan_id = ? AND target_id = ? "
                             "ORDER BY rowid", [scan_id, target_id]))
    if not (hashes or tried or listings):
        return None
    if hashes:
        sha = hashes[-1]  # the APK of the last analysis, if the target was analysed twice
        row = db.execute("SELECT package, version_name, version_code FROM apps WHERE sha256 = ?",
                         [sha]).fetchone() or (None, None, None)
        app["apk"] = {"sha256": sha, "package": row[0], "version_name": row[1],
                      "version_code": row[2]}
        for sdk in db.query("SELECT * FROM app_sdks WHERE scan_id = ? AND target_id = ? "
                            "AND app_sha256 = ? ORDER BY rowid", [scan_id, target_id, sha]):
            app["sdks"].setdefault(f"{sdk['sdk']} / {sdk['entity']}", {
                k: sdk.get(k) for k in ("sdk", "entity", "category", "evidence",
                                        "signature_source")})
        for perm in db.query("SELECT * FROM app_permissions WHERE scan_id = ? AND target_id = ? "
                             "AND app_sha256 = ? ORDER BY rowid", [scan_id, target_id, sha]):
            app["permissions"].setdefault(perm["permission"], {
                "permission": perm["permission"], "sensitive": bool(perm.get("sensitive"))})
    readable = [r for r in listings if not r.get("error")]
    if readable:
        app["store"] = {key: _declaration(key, readable[-1].get(key)) for key in STORE_DECLARATIONS}
    return app


def _declaration(key: str, value):
    if key not in _STORE_LISTS:
        return value
    try:
        items = json.loads(value) if isinstance(value, str) else (value or [])
    except ValueError:
        return value
    names = [(i.get("data_type") or i.get("category")) if isinstance(i, dict) else str(i)
             for i in items]
    return sorted(n for n in names if n) if key != "target_ages" else names


def _empty_snapshot() -> dict:
    return {"score": {"status": None, "grade": None, "score": None},
            "findings": {}, "domains": {}, "policies": {}, "app": None}


def _snapshot(db, target_id: str, scan_id: int) -> dict:
    score = db.execute("SELECT status, grade, score FROM scores WHERE scan_id = ? AND target_id = ?",
                       [scan_id, target_id]).fetchone()
    snapshot = _empty_snapshot()
    if score:
        snapshot["score"] = dict(zip(("status", "grade", "score"), score, strict=True))
    else:
        snapshot["score"]["status"] = "not_scored"
    for row in db.query("SELECT * FROM findings WHERE scan_id = ? AND target_id = ? ORDER BY id",
                        [scan_id, target_id]):
        snapshot["findings"].setdefault(finding_key(row), {
            k: row.get(k) for k in ("source", "rule_id", "category", "severity", "polarity",
                                    "evidence", "url")})
    for row in db.query("SELECT * FROM third_parties WHERE scan_id = ? AND target_id = ? "
                        "ORDER BY id", [scan_id, target_id]):
        if row.get("domain"):
            snapshot["domains"].setdefault(row["domain"], {
                "domain": row["domain"], "entity": row.get("entity"),
                "category": row.get("category"), "is_data_broker": bool(row.get("is_data_broker")),
                "example_request_url": row.get("request_url")})
    for row in db.query("""SELECT f.url, f.final_url, f.document_id, d.sha256, d.title, d.lang
                           FROM fetches f JOIN documents d ON d.id = f.document_id
                           WHERE f.scan_id = ? AND f.target_id = ? AND f.kind = 'policy'
                           ORDER BY f.id""", [scan_id, target_id]):
        snapshot["policies"][row["url"]] = row
    snapshot["app"] = _app_snapshot(db, target_id, scan_id)
    return snapshot


def _policy_changes(db, old: dict, new: dict) -> dict:
    changed = []
    for url in sorted(old.keys() & new.keys()):
        if old[url]["sha256"] != new[url]["sha256"]:
            added, removed = _changed_lines(db, old[url]["document_id"], new[url]["document_id"])
            changed.append({
                "url": url, "before": _doc_ref(old[url]), "after": _doc_ref(new[url]),
                "added_line_count": len(added), "removed_line_count": len(removed),
                "added_lines": added[:MAX_CHANGED_LINES], "removed_lines": removed[:MAX_CHANGED_LINES],
            })
    return {
        "changed": changed,
        "added": [{"url": u, **_doc_ref(new[u])} for u in sorted(new.keys() - old.keys())],
        "removed": [{"url": u, **_doc_ref(old[u])} for u in sorted(old.keys() - new.keys())],
    }


def _doc_ref(policy: dict) -> dict:
    return {k: policy.get(k) for k in ("document_id", "sha256", "final_url", "title", "lang")}


def _changed_lines(db, old_id: int, new_id: int) -> tuple[list[str], list[str]]:
    texts = {}
    for doc_id in (old_id, new_id):
        row = db.execute("SELECT text FROM documents WHERE id = ?", [doc_id]).fetchone()
        texts[doc_id] = _unwrapped_lines(row[0] if row else "")
    added, removed = [], []
    for line in difflib.ndiff(texts[old_id], texts[new_id]):
        if line.startswith("+ "):
            added.append(line[2:])
        elif line.startswith("- "):
            removed.append(line[2:])
    return added, removed


def _unwrapped_lines(text: str) -> list[str]:
    """Non-empty lines, a line that continues a sentence (PDF wrapping) joined to the one before."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if lines and lines[-1][-1] not in ".!?:;" and line[0].islower():
            lines[-1] += " " + line
        else:
            lines.append(line)
    return lines


def _sorted_findings(findings) -> list[dict]:
    return sorted(findings, key=lambda f: (POLARITY_ORDER.get(f["polarity"], 9),
                                           SEVERITY_ORDER.get(f["severity"], 9),
                                           f["rule_id"] or "", f["evidence"] or ""))


def _summary(targets: list[dict]) -> dict:
    return {
        "targets": len(targets),
        "targets_changed": sum(t["changed"] for t in targets),
        "targets_added": sum(t["presence"] == "added" for t in targets),
        "targets_removed": sum(t["presence"] == "removed" for t in targets),
        "status_changes": sum(t["status_changed"] for t in targets),
        "grade_changes": sum(t["grade_changed"] for t in targets),
        "new_risk_findings": sum(f["polarity"] == "risk" for t in targets for f in t["new_findings"]),
        "resolved_risk_findings": sum(f["polarity"] == "risk"
                                      for t in targets for f in t["resolved_findings"]),
        "new_third_parties": sum(len(t["new_third_parties"]) for t in targets),
        "gone_third_parties": sum(len(t["gone_third_parties"]) for t in targets),
        "changed_policy_documents": sum(len(t["policy_documents"]["changed"]) for t in targets),
        "new_sdks": sum(len(t["app"]["new_sdks"]) for t in targets if t["app"]),
        "gone_sdks": sum(len(t["app"]["gone_sdks"]) for t in targets if t["app"]),
        "new_permissions": sum(len(t["app"]["new_permissions"]) for t in targets if t["app"]),
        "gone_permissions": sum(len(t["app"]["gone_permissions"]) for t in targets if t["app"]),
        "store_declaration_changes": sum(len(t["app"]["store_changes"])
                                         for t in targets if t["app"]),
    }


def _scan_row(db, scan_id: int) -> dict:
    rows = list(db.query("SELECT id, started_at, finished_at, status, rules_version, tool_version "
                         "FROM scans WHERE id = ?", [scan_id]))
    if not rows:
        raise DiffError(f"no scan with id {scan_id}")
    return rows[0]


def _scan_target_ids(db, scan_id: int) -> set[str]:
    return {r[0] for r in db.execute(
        "SELECT target_id FROM scores WHERE scan_id = ? UNION SELECT target_id FROM fetches "
        "WHERE scan_id = ? UNION SELECT target_id FROM store_listings WHERE scan_id = ?",
        [scan_id, scan_id, scan_id]).fetchall()}
