"""Denials counted as risk (issue 14), case by case: for the tuning part of every real-policy set
(English and Thai) and for the OPP-115 and C3PA dev files, each risk finding that
scanner.evaluate.denials_counted_as_risk counts, with the rule that fired, the negation before
its matched phrase, what the rule's own `unless` found, and a cause; then the cases grouped by
cause. The frozen parts are counted only: their records are never printed.

Run: .venv/bin/python bench/denials.py [--no-dev] [--only NAME]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.accuracy import EVAL_DIR, is_frozen, real_sets  # noqa: E402
from scanner.engine import clause_starts, exception_list_form, same_clause  # noqa: E402
from scanner.evaluate import (  # noqa: E402
    CLAUSE_BREAK, NEGATION_BEFORE, NOT_A_DENIAL, denials_counted_as_risk, read_labelled)
from scanner.matching import load_rules  # noqa: E402

DEV_FILES = ("opp115-dev.jsonl", "c3pa-dev.jsonl")
MARKUP = re.compile(r"[*_]{1,3}|\[|\]")
TABLE_NO = re.compile(r"(?-i:\b(?:NO|No)\s+(?:NO|No|N/A)\b)")
EXCEPTION_WORDS = re.compile(r"\b(?:except|unless|other\s+than|save\s+for|apart\s+from)\b", re.I)


def negation_window(text: str, start: int, match_start: int) -> str:
    """The part of the sentence before the matched phrase that the count reads a negation in."""
    clauses = CLAUSE_BREAK.split(text[start:match_start])
    return NOT_A_DENIAL.sub(" ", clauses[-1] if clauses else text[start:match_start])


def cause(text: str, finding, rule) -> tuple[str, str]:
    """(cause, detail) of one English denial counted as risk."""
    sentence = text[finding.start:finding.end]
    offset = finding.start
    span = (finding.match_start - offset, finding.match_end - offset)
    window = negation_window(text, finding.start, finding.match_start)
    negation = NEGATION_BEFORE.search(window)
    between = window[negation.start():] if negation else ""
    clauses = clause_starts(sentence)
    unless_spans = [m.span() for u in rule.unless for m in u.finditer(sentence)]
    near = [s for s in unless_spans if same_clause(clauses, span, s)]
    detail = (f"negation {between.strip()[:70]!r}; unless found {len(unless_spans)}"
              f" (same clause {len(near)})")
    if "\n" in sentence and exception_list_form(sentence) is not None:
        return "exception list read positive", detail
    if TABLE_NO.search(sentence):
        return "table cells (No / N/A read as a negation)", detail
    if unless_spans and not near:
        return "rule's denial found in another clause", detail
    if not rule.unless:
        return "rule has no unless", detail
    if MARKUP.search(between):
        return "markup between negation and phrase", detail
    if "(" in between:
        return "parenthesis between negation and phrase", detail
    if EXCEPTION_WORDS.search(sentence):
        return "negation with exceptions (not ... except / other than)", detail
    return "rule's unless misses this negation form", detail


def report(name: str, records: list[dict], rules, lang: str, show: bool, causes: Counter) -> int:
    bad = denials_counted_as_risk(records, rules, lang=lang)
    print(f"\n{name}: {len(records)} records, denials counted as risk: {len(bad)}")
    if not show or not bad:
        return len(bad)
    by_id = {r.id: r for r in rules}
    texts = {r.get("id"): r for r in records}
    from scanner.matching import classify  # one finding per case, as the count saw it

    for record_id, rule_id, evidence in bad:
        record = texts[record_id]
        rule = by_id[rule_id]
        if lang == "th":
            why, detail = "Thai clause with a negation labelled not done", ""
        else:
            findings = [f for f in classify(record["text"], rules, lang=lang,
                                            section=record.get("heading") or "")
                        if f.rule_id == rule_id and f.evidence == evidence]
            why, detail = cause(record["text"], findings[0], rule) if findings else ("?", "")
            if findings:
                f = findings[0]
                detail = f"phrase {record['text'][f.match_start:f.match_end][:60]!r}; " + detail
        causes[why] += 1
        print(f"  {record_id} {rule_id} [{why}] {detail}\n    {' '.join(evidence.split())[:300]}")
    return len(bad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-dev", action="store_true", help="leave OPP-115 and C3PA out")
    parser.add_argument("--only", help="only the sets whose name contains this")
    args = parser.parse_args()
    rules = load_rules()
    causes: Counter = Counter()
    totals = {}
    for name, path, lang, _targets in real_sets():
        if args.only and args.only not in name or not path.exists():
            continue
        records = read_labelled(path)
        tuning = [r for r in records if not is_frozen(r["policy"])]
        frozen = [r for r in records if is_frozen(r["policy"])]
        totals[f"{name} tuning"] = report(f"{name} tuning part", tuning, rules, lang, True, causes)
        # the frozen part: the count only, its records stay unread
        totals[f"{name} frozen"] = report(f"{name} frozen part", frozen, rules, lang, False, causes)
    if not args.no_dev:
        for name in DEV_FILES:
            if args.only and args.only not in name or not (EVAL_DIR / name).exists():
                continue
            totals[name] = report(name, read_labelled(EVAL_DIR / name), rules, "en", True, causes)
    print("\ncounts: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    print("causes (tuning parts and dev files):")
    for why, n in causes.most_common():
        print(f"  {n:4d} {why}")


if __name__ == "__main__":
    main()
