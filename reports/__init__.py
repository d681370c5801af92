"""Report rendering for one scan: html | md | csv | json."""

from __future__ import annotations

import csv
import io
import json

from jinja2 import Environment, PackageLoader, select_autoescape

from reports.data import scan_report_data

_ENV = Environment(loader=PackageLoader("reports", "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def render_report(db, scan_id: int, fmt: str) -> str:
    data = scan_report_data(db, scan_id)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return _findings_csv(data)
    if fmt == "md":
        return _ENV.get_template("report.md.j2").render(**data)
    if fmt == "html":
        return _ENV.get_template("report.html.j2").render(**data)
    raise ValueError(f"unknown report format {fmt!r}")


CSV_COLUMNS = ("scan_id", "target_id", "grade", "score", "status", "source", "rule_id", "category",
               "severity", "polarity", "evidence", "url")


def _findings_csv(data: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for target in data["targets"]:
        base = {"scan_id": data["scan"]["id"], "target_id": target["id"], "grade": target["grade"],
                "score": target["score"], "status": target["status"]}
        if not target["findings"]:
            writer.writerow(base)
        for finding in target["findings"]:
            writer.writerow({**base, **finding})
    return out.getvalue()
