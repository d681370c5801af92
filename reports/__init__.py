"""Report rendering for one scan (or one target of it): html | md | csv | json."""

from __future__ import annotations

import base64
import csv
import io
import json
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from reports.charts import GRADE_COLOURS, report_charts
from reports.data import ReportError, scan_report_data
from reports.diff import app_change_lines, classify_changed_lines, markdown_target_changes
from reports.escape import md_code, md_text, quote_link, safe_href
from scanner.findings import POLARITY_ORDER, SEVERITY_ORDER

FORMATS = ("html", "md", "csv", "json")

# A subset of TLWG Loma (reports/fonts/LICENSE) embedded in every HTML report: Thai must not turn
# into boxes on a viewer without a Thai font. unicode-range keeps it to Thai characters.
THAI_FONT_FILE = Path(__file__).with_name("fonts") / "loma-thai.woff2"
THAI_FONT_FAMILY = "Report Thai"
THAI_UNICODE_RANGE = "U+0E01-0E5B, U+200B, U+25CC"

# A byte-order mark first: spreadsheet programs read a CSV without one in the locale's legacy
# code page, which garbles Thai.
CSV_BOM = "\ufeff"
# One row per finding, plus one row (finding columns empty) for each target without findings,
# so that an unreachable or clean target never silently disappears from a spreadsheet.
CSV_COLUMNS = (
    "scan_id", "scan_started_at", "target_id", "target_name", "audience", "status", "grade",
    "score", "source", "rule_id", "category", "practice", "severity", "polarity", "rule_points",
    "evidence", "url", "document_id", "document_sha256", "start", "end",
    "app_package", "app_version_name", "apk_sha256", "rule_description", "legal_references",
    "also_matched",
)

_ENV = Environment(loader=PackageLoader("reports", "templates"),
                   autoescape=select_autoescape(["html", "html.j2"]),
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
_ENV.filters.update(md=md_text, mdcode=md_code, safe_href=safe_href, quote_link=quote_link)

__all__ = ["CSV_BOM", "CSV_COLUMNS", "FORMATS", "ReportError", "render_report", "scan_report_data"]


def render_report(db, scan_id: int, fmt: str, target_id: str | None = None) -> str:
    data = scan_report_data(db, scan_id, target_id)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return findings_csv(data)
    if fmt == "md":
        return _ENV.get_template("report.md.j2").render(**data, **_view_helpers())
    if fmt == "html":
        return _ENV.get_template("report.html.j2").render(**data, **_view_helpers(),
                                                          charts=report_charts(data),
                                                          thai_font_face=thai_font_face())
    raise ValueError(f"unknown report format {fmt!r}")


@cache
def thai_font_face() -> str:
    """The @font-face rule of the embedded Thai font, its bytes in a data: URL."""
    encoded = base64.b64encode(THAI_FONT_FILE.read_bytes()).decode("ascii")
    return (f'@font-face {{ font-family: "{THAI_FONT_FAMILY}"; font-style: normal; '
            f'font-weight: 100 900; font-display: block; '
            f'src: url(data:font/woff2;base64,{encoded}) format("woff2"); '
            f'unicode-range: {THAI_UNICODE_RANGE}; }}')


def findings_csv(data: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    out.write(CSV_BOM)
    writer.writeheader()
    for target in data["targets"]:
        base = {"scan_id": data["scan"]["id"], "scan_started_at": data["scan"]["started_at"],
                "target_id": target["id"], "target_name": target["name"],
                "audience": target["audience"], "status": target["status"],
                "grade": target["grade"], "score": target["score"]}
        apk = (target.get("app") or {}).get("apks") or [{}]
        base.update({"app_package": (target.get("app") or {}).get("package"),
                     "app_version_name": apk[0].get("version_name"),
                     "apk_sha256": apk[0].get("sha256")})
        if not target["findings"]:
            writer.writerow(base)
        for finding in target["findings"]:
            references = "; ".join(finding.get("legal_references") or [])
            writer.writerow({**finding, **base, "legal_references": references,
                             "also_matched": "; ".join(finding.get("also") or [])})
    return out.getvalue()


def group_findings(findings: list[dict]) -> list[tuple[str, list[dict]]]:
    """Findings by category, the category with the most severe risk first."""
    groups: dict[str, list[dict]] = {}
    for finding in findings:
        groups.setdefault(finding.get("category") or "uncategorised", []).append(finding)

    def worst(item):
        category, rows = item
        return (min((POLARITY_ORDER.get(f.get("polarity"), 9), SEVERITY_ORDER.get(f.get("severity"), 9))
                    for f in rows), category)

    return sorted(groups.items(), key=worst)


def declared(value) -> str:
    """A store-page flag as a report says it: 1 yes, 0 no, null not shown / unknown."""
    return "unknown" if value is None else ("yes" if value else "no")


def data_types_text(rows) -> str:
    """Data-safety rows as 'Device or other IDs (Advertising or marketing), ...'."""
    parts = []
    for row in rows or ():
        if not isinstance(row, dict):
            parts.append(str(row))
            continue
        name = row.get("data_type") or row.get("category") or "?"
        purposes = row.get("purposes") or []
        purposes = ", ".join(purposes) if isinstance(purposes, list) else str(purposes)
        parts.append(f"{name} ({purposes})" if purposes else name)
    return "; ".join(parts)


def _view_helpers() -> dict:
    return {"group_findings": group_findings, "grade_colours": GRADE_COLOURS,
            "markdown_changes": markdown_target_changes, "declared": declared,
            "data_types_text": data_types_text, "app_changes": app_change_lines,
            "changed_lines": classify_changed_lines}
