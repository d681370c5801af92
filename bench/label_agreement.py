"""Agreement of an independent labeller with the stored labels (issue 14): a seeded sample of
the tuning part of each real-policy set (never a frozen policy, bench/accuracy.py's is_frozen) is
printed without its labels to be labelled blind; the labeller's labels are then read back from a
JSONL of {"id", "labels"} (no text) and compared with the stored ones per set and category:
agreement and Cohen's kappa where both sides give a value, the 2x2 confusion, and the nulls apart.

Run:
  .venv/bin/python bench/label_agreement.py sample [--sets real-dev,real-extra-a] [--n 40]
      [--exclude bench/data/labels/AGREEMENT.md]
      prints "id | policy | heading" and the text of each sampled record (no labels), leaving
      out the ids the --exclude file mentions (its tables show their labels);
  .venv/bin/python bench/label_agreement.py compare bench/data/labels/relabel-h6.jsonl [--list]
      prints the agreement table (and each disagreement with --list).

The sets are ../shared/eval/real-dev.jsonl and th-real-dev.jsonl (the issue authors' labels) and
bench/.texts/<set>.jsonl (ours, `bench/eval_texts.py materialise` first; compare reads our stored
labels from bench/data/labels/<set>.jsonl itself). Texts are printed to the terminal only;
nothing with policy text is written into the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from accuracy import EVAL_DIR, TEXTS_DIR, is_frozen  # noqa: E402

LABELS_DIR = ROOT / "bench" / "data" / "labels"
CATEGORIES = ("collection", "third_party_sharing", "sale", "behavioral_ads", "children")
SEED = "h6-2026"
# Default sample size per set: the authors' gold gets the largest sample.
DEFAULT_N = {"real-dev": 120, "th-real-dev": 40, "th-extra": 20, "th-extra-b": 20,
             "th-extra-c": 20}


def set_path(name: str) -> Path:
    """The JSONL (with text and labels) of a set: the authors' in ../shared/eval, ours rebuilt
    in bench/.texts."""
    shared = EVAL_DIR / f"{name}.jsonl"
    return shared if shared.exists() else TEXTS_DIR / f"{name}.jsonl"


def labels_path(name: str) -> Path:
    """Where a set's stored labels are read for the comparison: our labels file itself
    (bench/data/labels, never a stale bench/.texts copy), or the authors' file."""
    ours = LABELS_DIR / f"{name}.jsonl"
    return ours if ours.exists() else set_path(name)


def read_jsonl(path: Path) -> list[dict]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{number}: not JSON ({exc.msg})") from None
    return records


ID_PREFIXES = {"rdev": "real-dev"}  # real-dev.jsonl's ids are rdev-<n>


def set_of(record_id: str) -> str:
    """The set name of an id such as 'real-extra-a-12', 'th-real-dev-003' or 'rdev-7'."""
    prefix = record_id.rsplit("-", 1)[0]
    return ID_PREFIXES.get(prefix, prefix)


def sample(name: str, records: list[dict], n: int, seed: str = SEED,
           exclude: frozenset[str] = frozenset()) -> list[dict]:
    """n records of the tuning part (policies not frozen), seeded by the set name, in file
    order. A frozen policy's record, or an id in exclude, is never drawn."""
    tuning = [r for r in records if not is_frozen(r["policy"]) and r["id"] not in exclude]
    rng = random.Random(int(hashlib.sha256(f"{seed}:{name}".encode()).hexdigest(), 16))
    chosen = set(id(r) for r in rng.sample(tuning, min(n, len(tuning))))
    return [r for r in tuning if id(r) in chosen]


def cohen_kappa(pairs: Iterable[tuple[object, object]]) -> float | None:
    """Cohen's kappa of two raters' labels (any hashable values); None when undefined (no pairs,
    or chance agreement 1: both raters used one and the same value throughout)."""
    pairs = list(pairs)
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    values = {v for pair in pairs for v in pair}
    expected = sum((sum(a == v for a, _ in pairs) / n) * (sum(b == v for _, b in pairs) / n)
                   for v in values)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def compare_category(pairs: list[tuple[bool | None, bool | None]]) -> dict:
    """Statistics of (stored, relabel) label pairs for one category: n and agreement and kappa
    over the pairs where both are non-null, the confusion tt/tf/ft/ff (stored first), and the
    nulls apart: stored null only, relabel null only, both null."""
    both = [(a, b) for a, b in pairs if a is not None and b is not None]
    confusion = {key: sum((a, b) == value for a, b in both) for key, value in
                 (("tt", (True, True)), ("tf", (True, False)), ("ft", (False, True)),
                  ("ff", (False, False)))}
    return {
        "n": len(both),
        "agreement": (confusion["tt"] + confusion["ff"]) / len(both) if both else None,
        "kappa": cohen_kappa(both),
        **confusion,
        "null_stored": sum(a is None and b is not None for a, b in pairs),
        "null_relabel": sum(a is not None and b is None for a, b in pairs),
        "null_both": sum(a is None and b is None for a, b in pairs),
    }


def mentioned_ids(path: Path) -> frozenset[str]:
    """Every record id a text file mentions: "set-12", a short "-13" after it (same set until
    the next full id), or a "set: 12:FFTFF 13:..." list (AGREEMENT.md shows labels of those, so
    a blind labeller must not draw them)."""
    ids = set()
    current = None
    for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
        for prefix, items in re.findall(r"((?:real|th)-[a-z-]+): ((?:\d+:[TFN]+ ?)+)", paragraph):
            ids.update(f"{prefix}-{item.split(':')[0]}" for item in items.split())
        for full, short in re.findall(r"\b((?:real|th)-[a-z-]+?-\d+)\b|(?<![\w-])-(\d+)\b",
                                      paragraph):
            if full:
                current = full.rsplit("-", 1)[0]
                ids.add(full)
            elif current:
                ids.add(f"{current}-{short}")
    return frozenset(ids)


def cmd_sample(args) -> None:
    exclude = mentioned_ids(Path(args.exclude)) if args.exclude else frozenset()
    for name in args.sets.split(","):
        path = set_path(name)
        if not path.exists():
            raise SystemExit(f"{path}: not found (run bench/eval_texts.py materialise)")
        n = args.n or DEFAULT_N.get(name, 36)
        for record in sample(name, read_jsonl(path), n, exclude=exclude):
            print(f"== {record['id']} | {record['policy']} | {record.get('heading') or ''}")
            print(" ".join(record["text"].split()))


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def cmd_compare(args) -> None:
    relabels = {}
    for number, record in enumerate(read_jsonl(Path(args.labels)), 1):
        if set(record) != {"id", "labels"} or set(record["labels"]) != set(CATEGORIES):
            raise SystemExit(f"{args.labels}:{number}: expected {{id, labels}} with the five "
                             "categories")
        relabels[record["id"]] = record["labels"]
    by_set: dict[str, list[str]] = {}
    for record_id in relabels:
        by_set.setdefault(set_of(record_id), []).append(record_id)
    print("| set | category | n | agreement | kappa | TT | TF | FT | FF | null stored only | "
          "null relabel only | both null |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    disagreements = []
    for name, ids in by_set.items():
        stored = {r["id"]: r for r in read_jsonl(labels_path(name))}
        for record_id in ids:
            if record_id not in stored:
                raise SystemExit(f"{args.labels}: {record_id} is not in {labels_path(name)}")
            if is_frozen(stored[record_id]["policy"]):
                raise SystemExit(f"{args.labels}: {record_id} is of a frozen policy")
        for category in CATEGORIES:
            pairs = [(stored[i]["labels"][category], relabels[i][category]) for i in ids]
            s = compare_category(pairs)
            print(f"| {name} | {category} | {s['n']} | {fmt(s['agreement'])} | {fmt(s['kappa'])} | "
                  f"{s['tt']} | {s['tf']} | {s['ft']} | {s['ff']} | {s['null_stored']} | "
                  f"{s['null_relabel']} | {s['null_both']} |")
            disagreements += [(i, category, a, b) for i, (a, b) in zip(ids, pairs, strict=True)
                              if a != b]
    print(f"\n{len(relabels)} records; TF = stored true, relabel false; {len(disagreements)} "
          "disagreeing cells")
    if args.list:
        for record_id, category, a, b in disagreements:
            print(f"  {record_id} {category}: stored {json.dumps(a)} relabel {json.dumps(b)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample", help="print a blind sample (id, policy, heading, text)")
    p.add_argument("--sets", default="real-dev")
    p.add_argument("--n", type=int, default=0, help="records per set (default: per set)")
    p.add_argument("--exclude", help="skip the ids this file mentions (e.g. AGREEMENT.md, "
                   "which shows their labels)")
    p.set_defaults(func=cmd_sample)
    c = sub.add_parser("compare", help="compare a relabel JSONL with the stored labels")
    c.add_argument("labels")
    c.add_argument("--list", action="store_true", help="print each disagreeing cell")
    c.set_defaults(func=cmd_compare)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
