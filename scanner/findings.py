"""A findings row, built one way by every source (policy rules, tracker rules, cross-checks)."""

from __future__ import annotations

import json

# Most serious first: the order reports and diffs list findings in.
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
POLARITY_ORDER = {"risk": 0, "protective": 1, "neutral": 2}


def finding_row(scan_id: int, target_id: str, *, source: str, rule_id: str, category: str,
                practice: str, severity: str, polarity: str, evidence: str, url: str,
                data_types=(), document_id: int | None = None, start: int | None = None,
                end: int | None = None) -> dict:
    """One row of the findings table (docs/schema.md); document_id/start/end locate a quote."""
    return {
        "scan_id": scan_id, "target_id": target_id, "source": source, "rule_id": rule_id,
        "category": category, "practice": practice, "severity": severity, "polarity": polarity,
        "data_types": json.dumps(list(data_types)), "evidence": evidence,
        "document_id": document_id, "start": start, "end": end, "url": url,
    }


def one_line(text: str | None, limit: int) -> str:
    """Whitespace collapsed and cut to `limit` characters (an ellipsis marks the cut)."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
