"""Charts as inline SVG drawn on the server: the HTML report must open offline, without scripts.

No xmlns: inline SVG in HTML needs none, and the report then holds no http URL of its own.
"""

from __future__ import annotations

from markupsafe import Markup, escape

GRADE_COLOURS = {"A": "#2e7d32", "B": "#7cb342", "C": "#fbc02d", "D": "#fb8c00", "F": "#c62828"}
POLARITY_COLOURS = {"risk": "#c62828", "protective": "#2e7d32", "neutral": "#90a4ae"}
STATUS_COLOUR = "#9e9e9e"
CATEGORY_COLOUR = "#5c6bc0"

_ROW = 22
_LABEL_WIDTH = 190
_BAR_WIDTH = 360
_VALUE_WIDTH = 90


def _frame(title: str, height: int, body: list[str]) -> Markup:
    width = _LABEL_WIDTH + _BAR_WIDTH + _VALUE_WIDTH
    title = escape(title)
    return Markup(
        f'<svg class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{title}"><title>{title}</title>'
        f'<text x="0" y="14" class="chart-title">{title}</text>' + "".join(body) + "</svg>")


def _label(y: int, text: str) -> str:
    text = text if len(text) <= 28 else text[:27] + "…"
    return (f'<text x="{_LABEL_WIDTH - 6}" y="{y + 14}" text-anchor="end" '
            f'class="chart-label">{escape(text)}</text>')


def bar_chart(title: str, rows: list[tuple[str, float | None, str, str]], *,
              max_value: float | None = None) -> Markup:
    """Horizontal bars; rows are (label, value or None, colour, value text)."""
    top = max([v for _, v, _, _ in rows if v] + [max_value or 0, 1])
    body = []
    for i, (label, value, colour, value_text) in enumerate(rows):
        y = 24 + i * _ROW
        body.append(_label(y, label))
        length = 0 if not value else max(2, round(_BAR_WIDTH * value / top))
        if length:
            body.append(f'<rect x="{_LABEL_WIDTH}" y="{y + 3}" width="{length}" height="{_ROW - 6}" '
                        f'fill="{colour}"><title>{escape(label)}: {escape(value_text)}</title></rect>')
        body.append(f'<text x="{_LABEL_WIDTH + length + 6}" y="{y + 14}" '
                    f'class="chart-value">{escape(value_text)}</text>')
    if not rows:
        body.append(f'<text x="{_LABEL_WIDTH}" y="38" class="chart-value">none</text>')
    return _frame(title, 30 + max(1, len(rows)) * _ROW, body)


def stacked_bar_chart(title: str, rows: list[tuple[str, dict]], series: dict[str, str]) -> Markup:
    """Horizontal stacked bars; rows are (label, {series name: count}), series maps name to colour."""
    top = max([sum(parts.values()) for _, parts in rows] + [1])
    body = []
    legend_x = _LABEL_WIDTH
    for name, colour in series.items():
        body.append(f'<rect x="{legend_x}" y="24" width="10" height="10" fill="{colour}"/>'
                    f'<text x="{legend_x + 14}" y="33" class="chart-value">{escape(name)}</text>')
        legend_x += 20 + 8 * len(name)
    for i, (label, parts) in enumerate(rows):
        y = 42 + i * _ROW
        body.append(_label(y, label))
        x = _LABEL_WIDTH
        for name, colour in series.items():
            count = parts.get(name, 0)
            if not count:
                continue
            length = max(2, round(_BAR_WIDTH * count / top))
            body.append(f'<rect x="{x}" y="{y + 3}" width="{length}" height="{_ROW - 6}" '
                        f'fill="{colour}"><title>{escape(label)}, {escape(name)}: {count}'
                        f'</title></rect>')
            x += length
        total = " / ".join(f"{parts.get(n, 0)}" for n in series)
        body.append(f'<text x="{x + 6}" y="{y + 14}" class="chart-value">{escape(total)}</text>')
    if not rows:
        body.append(f'<text x="{_LABEL_WIDTH}" y="56" class="chart-value">none</text>')
    return _frame(title, 48 + max(1, len(rows)) * _ROW, body)


def report_charts(data: dict) -> dict[str, Markup]:
    """The report's charts from its data: grades, scores, third parties, findings."""
    summary = data["summary"]
    grades = [(g, summary["grades"].get(g, 0), GRADE_COLOURS[g], str(summary["grades"].get(g, 0)))
              for g in GRADE_COLOURS]
    for status in ("unreachable", "not_scored"):
        if summary["statuses"].get(status):
            grades.append((f"{status.replace('_', ' ')} (no grade)", summary["statuses"][status],
                           STATUS_COLOUR, str(summary["statuses"][status])))
    scores = []
    for t in data["targets"]:
        if t["score"] is None:
            scores.append((t["name"] or t["id"], None, STATUS_COLOUR,
                           f"{t['status'].replace('_', ' ')}: not graded"))
        else:
            scores.append((t["name"] or t["id"], t["score"], GRADE_COLOURS.get(t["grade"], "#555"),
                           f"{t['score']} ({t['grade']})"))
    third = [(c, n, CATEGORY_COLOUR, f"{n} domain{'s' if n != 1 else ''}")
             for c, n in summary["third_party_domains_by_category"].items()]
    findings = list(summary["findings_by_category"].items())
    return {
        "grades": bar_chart("Targets per grade", grades),
        "scores": bar_chart("Risk score per target (0-100, higher is riskier)", scores,
                            max_value=100),
        "third_parties": bar_chart("Third-party domains by category (distinct per target)", third),
        "findings": stacked_bar_chart("Findings by category (risk / protective / neutral)",
                                      findings, POLARITY_COLOURS),
    }
