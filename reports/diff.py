"""Render a scan diff (scanner.diff) as text, Markdown or JSON."""

from __future__ import annotations

import json

from reports.escape import md_code, md_text
from scanner.findings import one_line


def _grade_text(side: dict | None) -> str:
    if side is None:
        return "not in scan"
    if side["status"] in ("scored", "no_policy"):
        return f"{side['grade']} ({side['score']}{', no policy' if side['status'] == 'no_policy' else ''})"
    return side["status"] or "-"


def _value_text(value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, int) and value in (0, 1):
        return "yes" if value else "no"
    return str(value)


def _apk_text(apk: dict | None) -> str:
    if not apk:
        return "no APK analysed"
    return f"{apk['package'] or '?'} {apk['version_name'] or '?'} ({apk['sha256'][:12]})"


def app_change_lines(app: dict | None) -> list[tuple[str, str]]:
    """(sign, text) per app change: '+' added, '-' removed, '~' changed; shared by every format."""
    if not app or not app["changed"]:
        return []
    lines = []
    if app["apk_changed"]:
        lines.append(("~", f"APK {_apk_text(app['before'])} -> {_apk_text(app['after'])}"))
    for sign, key in (("+", "new_sdks"), ("-", "gone_sdks")):
        for sdk in app[key]:
            lines.append((sign, f"SDK {sdk['sdk']} ({sdk['entity'] or 'unknown'}, "
                                f"{sdk['category'] or '-'}): class {sdk['evidence']}"))
    for sign, key in (("+", "new_permissions"), ("-", "gone_permissions")):
        for perm in app[key]:
            lines.append((sign, f"permission {perm['permission']}"
                                + (" (sensitive)" if perm["sensitive"] else "")))
    for change in app["store_changes"]:
        lines.append(("~", f"store page {change['declaration'].replace('_', ' ')}: "
                           f"{_value_text(change['before'])} -> {_value_text(change['after'])}"))
    return lines


# How a changed line of a policy reads for a child's privacy, whatever its diff status: a new
# risk is red even on an added line, a removed safeguard is red on a removed line.
LINE_RISK = "risk"      # adds a risk or removes a safeguard
LINE_SAFER = "safer"    # adds a safeguard or removes a risk
LINE_PLAIN = "plain"    # no finding came or went with this line
EVIDENCE_PROBE = 60     # characters of a finding's evidence looked for in a line


def _squeeze(text: str) -> str:
    return " ".join((text or "").split()).lower()


def _line_has_evidence(line: str, evidence: str) -> bool:
    line, evidence = _squeeze(line), _squeeze(evidence).rstrip("…")
    if not line or not evidence:
        return False
    return evidence[:EVIDENCE_PROBE] in line or (len(line) >= 20 and line in evidence)


def classify_changed_lines(target: dict, change: dict) -> list[dict]:
    """Each added and removed line of a changed policy with its risk reading: {sign, text,
    tone (risk | safer | plain), rule_ids}; the findings that came or went decide the tone."""
    out = []
    for sign, key, findings in (("+", "added_lines", target.get("new_findings") or []),
                                ("-", "removed_lines", target.get("resolved_findings") or [])):
        for line in change.get(key) or []:
            matched = [f for f in findings if f.get("source", "policy") == "policy"
                       and _line_has_evidence(line, f.get("evidence"))]
            risks = [f for f in matched if f.get("polarity") == "risk"]
            protective = [f for f in matched if f.get("polarity") == "protective"]
            if sign == "+":
                tone = LINE_RISK if risks else LINE_SAFER if protective else LINE_PLAIN
            else:
                tone = LINE_SAFER if risks else LINE_RISK if protective else LINE_PLAIN
            rule_ids = [f["rule_id"] for f in (risks or protective)]
            out.append({"sign": sign, "text": line, "tone": tone,
                        "rule_ids": list(dict.fromkeys(rule_ids))})
    return out


def _tone_mark(line: dict) -> str:
    if line["tone"] == LINE_PLAIN:
        return ""
    label = "RISK" if line["tone"] == LINE_RISK else "safer"
    return f"[{label}: {', '.join(line['rule_ids'])}] "


def render_diff(diff: dict, fmt: str, *, only_changed: bool = True) -> str:
    if fmt == "json":
        return json.dumps(diff, ensure_ascii=False, indent=2) + "\n"
    if fmt == "md":
        return _render_markdown(diff, only_changed)
    if fmt == "text":
        return _render_text(diff, only_changed)
    raise ValueError(f"unknown diff format {fmt!r}")


def _render_text(diff: dict, only_changed: bool) -> str:
    a, b, s = diff["from_scan"], diff["to_scan"], diff["summary"]
    out = [f"scan {a['id']} ({a['started_at']}) -> scan {b['id']} ({b['started_at']})"]
    if diff["rules_changed"]:
        out.append(f"rules changed between the scans ({a['rules_version']} -> {b['rules_version']}):"
                   " some finding changes may come from the rules, not the targets")
    out.append(f"{s['targets_changed']} of {s['targets']} targets changed; "
               f"{s['new_risk_findings']} new and {s['resolved_risk_findings']} resolved risk "
               f"findings; {s['changed_policy_documents']} policy documents changed")
    if s["new_sdks"] or s["gone_sdks"] or s["new_permissions"] or s["gone_permissions"] \
            or s["store_declaration_changes"]:
        out.append(f"apps: {s['new_sdks']} SDKs added, {s['gone_sdks']} removed; "
                   f"{s['new_permissions']} permissions added, {s['gone_permissions']} removed; "
                   f"{s['store_declaration_changes']} store declarations changed")
    for t in diff["targets"]:
        if only_changed and not t["changed"]:
            continue
        out.append("")
        out.append(f"{t['target_id']}: {_grade_text(t['before'])} -> {_grade_text(t['after'])}"
                   + (f" (score {t['score_delta']:+d})" if t["score_delta"] else ""))
        if t["presence"] == "both" and not t["comparable"]:
            out.append("  not comparable: the target was unreachable in one of the scans")
        for label, key in (("+", "new_findings"), ("-", "resolved_findings")):
            for f in t[key]:
                out.append(f"  {label} {f['polarity']} {f['severity']} {f['rule_id']}: "
                           f"{one_line(f['evidence'], 140)}")
        for label, key in (("+", "new_third_parties"), ("-", "gone_third_parties")):
            for p in t[key]:
                out.append(f"  {label} third party {p['domain']} ({p['entity'] or 'unknown'}, "
                           f"{p['category'] or '-'})")
        docs = t["policy_documents"]
        for d in docs["changed"]:
            out.append(f"  ~ policy changed {d['url']}: {d['before']['sha256'][:12]} -> "
                       f"{d['after']['sha256'][:12]} ({_line_counts(d)})")
            out += [f"      {line['sign']} {_tone_mark(line)}{one_line(line['text'], 140)}"
                    for line in classify_changed_lines(t, d)]
        for d in docs["added"]:
            out.append(f"  + policy {d['url']} ({d['sha256'][:12]})")
        for d in docs["removed"]:
            out.append(f"  - policy {d['url']} ({d['sha256'][:12]})")
        out += [f"  {sign} {one_line(text, 160)}" for sign, text in app_change_lines(t["app"])]
    return "\n".join(out) + "\n"


def _render_markdown(diff: dict, only_changed: bool) -> str:
    a, b, s = diff["from_scan"], diff["to_scan"], diff["summary"]
    out = [f"# Changes from scan {a['id']} to scan {b['id']}", "",
           f"Scan {a['id']} started {a['started_at']}; scan {b['id']} started {b['started_at']}.", "",
           f"**{s['targets_changed']}** of {s['targets']} targets changed; "
           f"{s['new_risk_findings']} new and {s['resolved_risk_findings']} resolved risk findings; "
           f"{s['changed_policy_documents']} policy documents changed."]
    if diff["rules_changed"]:
        out += ["", f"The rules changed between the scans (`{a['rules_version']}` -> "
                    f"`{b['rules_version']}`): some finding changes may come from the rules."]
    out += ["", "| target | before | after | score change | new findings | resolved findings |",
            "|---|---|---|---|---|---|"]
    for t in diff["targets"]:
        if only_changed and not t["changed"]:
            continue
        out.append(f"| {md_text(t['name'])} (`{md_code(t['target_id'])}`) | "
                   f"{md_text(_grade_text(t['before']))} | {md_text(_grade_text(t['after']))} | "
                   f"{format(t['score_delta'], '+d') if t['score_delta'] else ''} | "
                   f"{len(t['new_findings'])} | {len(t['resolved_findings'])} |")
    for t in diff["targets"]:
        if not t["changed"]:
            continue
        out += ["", f"## {md_text(t['name'])} (`{md_code(t['target_id'])}`)", ""]
        out += markdown_target_changes(t)
    return "\n".join(out) + "\n"


def markdown_target_changes(t: dict) -> list[str]:
    """The bullet list of one target's changes (shared with the Markdown report)."""
    out = [f"- grade: {md_text(_grade_text(t['before']))} -> {md_text(_grade_text(t['after']))}"]
    if t["presence"] == "both" and not t["comparable"]:
        out.append("- not comparable: the target was unreachable in one of the scans")
    for label, key in (("new", "new_findings"), ("resolved", "resolved_findings")):
        for f in t[key]:
            out.append(f"- {label} {f['polarity']} finding `{md_code(f['rule_id'])}` "
                       f"({f['severity']}): {md_text(one_line(f['evidence'], 300))}")
    for label, key in (("new", "new_third_parties"), ("gone", "gone_third_parties")):
        for p in t[key]:
            out.append(f"- {label} third party {md_text(p['domain'])} "
                       f"({md_text(p['entity'] or 'unknown')}, {md_text(p['category'] or '-')})")
    for d in t["policy_documents"]["changed"]:
        out.append(f"- policy changed: {md_text(d['url'])} (`{d['before']['sha256'][:12]}` -> "
                   f"`{d['after']['sha256'][:12]}`, {_line_counts(d)})")
        for line in classify_changed_lines(t, d):
            mark = f"**{md_text(_tone_mark(line).strip())}** " if _tone_mark(line) else ""
            label = "added" if line["sign"] == "+" else "removed"
            out.append(f"    - {label}: {mark}{md_text(one_line(line['text'], 300))}")
    for label, key in (("new", "added"), ("gone", "removed")):
        for d in t["policy_documents"][key]:
            out.append(f"- {label} policy document: {md_text(d['url'])} (`{d['sha256'][:12]}`)")
    labels = {"+": "app: added", "-": "app: removed", "~": "app:"}
    out += [f"- {labels[sign]} {md_text(one_line(text, 300))}"
            for sign, text in app_change_lines(t.get("app"))]
    return out


def _line_counts(change: dict) -> str:
    if not change["added_line_count"] and not change["removed_line_count"]:
        return "layout or spacing only: no line of text changed"
    return f"{change['added_line_count']} lines added, {change['removed_line_count']} removed"
