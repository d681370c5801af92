"""Fingerprint of every finding the policy rules make on the labelled files: refactors of the
engine, the text splitter or the rule files must leave it unchanged (or say why it moved).

Prints, per file, the number of records and findings and a sha256 of every finding's
(record, rule, polarity, offsets); `--out FILE` also writes the findings themselves, so two
runs can be compared with `diff`.

Run: .venv/bin/python bench/findings_snapshot.py [--out findings.tsv]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner.evaluate import judged_texts, read_labelled  # noqa: E402
from scanner.matching import classify, load_rules  # noqa: E402

FILES = [ROOT.parent / "shared" / "eval" / name
         for name in ("opp115-dev.jsonl", "c3pa-dev.jsonl", "real-dev.jsonl", "th-real-dev.jsonl")]
FILES.append(ROOT / "bench" / "data" / "thai-labelled.jsonl")


def finding_lines(path: Path, rules) -> list[str]:
    records = read_labelled(path)
    lines = []
    for record, text in zip(records, judged_texts(records), strict=True):
        for f in classify(text, rules):
            lines.append(f"{path.name}\t{record.get('id')}\t{f.rule_id}\t{f.polarity}\t"
                         f"{f.start}\t{f.end}\t{f.match_start}\t{f.match_end}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Write every finding line here.")
    args = parser.parse_args()
    rules = load_rules()
    every = []
    for path in FILES:
        if not path.exists():
            print(f"{path.name:24} missing (skipped)")
            continue
        lines = finding_lines(path, rules)
        every.extend(lines)
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
        print(f"{path.name:24} {len(read_labelled(path)):6d} records {len(lines):7d} findings  "
              f"sha256 {digest}")
    if args.out:
        args.out.write_text("\n".join(every) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
