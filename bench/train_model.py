"""Train the learned sentence model beside the rules (scanner/model.py) on the tuning parts of the
real-policy sets, measure it by policy-grouped cross-validation, and write its weights.

For each category: a logistic regression over a record's words, word pairs, heading words and
the rules that fired on it. Grouped CV (folds of whole policies, never sentences) scores the
rules alone and the rules plus the model on the held-out policies, the model counted only where
the rules have no finding of the category and no negation governs its strongest phrase, as at
run time; its threshold is chosen by an inner grouped CV on the training folds only. A category
is enabled in the weights file only when CV shows a real gain (MIN_GAIN F1, precision kept).

Only the tuning parts (bench/accuracy.py is_frozen) are read into the training data; the frozen
records are dropped as each file is read, never scored or printed.

Run: .venv/bin/python bench/train_model.py [--write] [--sets NAME ...] [--score-only SET]
  --write: train on all the tuning data and write rules/model/en.json
  --score-only SET: score rules and rules+model (the committed weights) on SET's tuning part
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy import EVAL_DIR, TEXTS_DIR, is_frozen  # noqa: E402

from scanner.evaluate import Score, evaluate, judged_texts, read_labelled  # noqa: E402
from scanner.matching import classify, load_rules  # noqa: E402
from scanner.model import (  # noqa: E402
    MODEL_DIR, NEVER_SUGGESTED, TRIGGER_WORDS, CategoryModel, Model, features, load_model,
    read_model)

# The English sets whose tuning parts train the model, and where each is.
SETS = {
    "real-dev": EVAL_DIR / "real-dev.jsonl",
    "real-extra-a": TEXTS_DIR / "real-extra-a.jsonl",
    "real-extra-b": TEXTS_DIR / "real-extra-b.jsonl",
    "real-extra-c": TEXTS_DIR / "real-extra-c.jsonl",
    "real-extra-d": TEXTS_DIR / "real-extra-d.jsonl",
    "real-extra-e": TEXTS_DIR / "real-extra-e.jsonl",
}
LABEL_FILES = {"real-dev": EVAL_DIR / "real-dev.jsonl"} | {
    name: ROOT / "bench" / "data" / "labels" / f"{name}.jsonl" for name in SETS if name != "real-dev"}
# bench/accuracy.py's modes: practice for sale, ads and sharing; topic for collection, children.
MODES = {"sale": "practice", "behavioral_ads": "practice", "third_party_sharing": "practice",
         "collection": "topic", "children": "topic"}
FOLDS, INNER_FOLDS = 5, 4
BOOTSTRAP = 1000  # resamples of the held-out policies for the gain's interval
# Labelled after the rules were tuned: their held-out rule figures are out-of-sample too.
UNSEEN = ("real-extra-d", "real-extra-e")
THRESHOLDS = [x / 20 for x in range(2, 20)]  # 0.10 ... 0.95
EPOCHS, RATE, L2, SEED = 12, 0.3, 0.1, 14
MIN_POLICIES = 3  # a feature is kept when it occurs in this many policies of the training data
MIN_GAIN = 0.02  # CV F1 gain a category needs to be enabled
# Kept for their own numbers, never tuned on: an enabled category whose topic F1 on either
# falls by more than GUARD_DROP is not enabled after all.
GUARD_FILES, GUARD_DROP = ("opp115-dev.jsonl", "c3pa-dev.jsonl"), 0.005
MAX_PRECISION_DROP = 0.05


def load_sets(names) -> list[dict]:
    """The tuning-part records of each set, each with its set, judged text and the rules'
    findings (the frozen records are dropped as the file is read)."""
    rules = load_rules()
    records = []
    for name in names:
        path = SETS[name]
        if not path.exists():
            sys.exit(f"{path}: not found (run .venv/bin/python bench/eval_texts.py materialise)")
        chosen = [r for r in read_labelled(path) if not is_frozen(r["policy"])]
        for record, text in zip(chosen, judged_texts(chosen), strict=True):
            findings = classify(text, rules, lang="en", section=record.get("heading") or "")
            record.update(set=name, judged=text, findings=findings,
                          features=features(text, record.get("heading") or "",
                                            [(f.rule_id, f.category, f.polarity) for f in findings]))
            records.append(record)
    return records


def rules_say(record: dict, category: str) -> bool:
    mode = MODES[category]
    return any(f.category == category and (mode == "topic" or f.polarity == "risk")
               for f in record["findings"])


def rules_silent(record: dict, category: str) -> bool:
    """No rule finding of the category at all: where the model may suggest one."""
    return not any(f.category == category for f in record["findings"])


# Train only on the records where the rules have no finding of the category (--gated)? CV
# said no: the model trained on every record ranks the rules' misses better (see docs/accuracy.md).
GATED = [False]


def train(records: list[dict], category: str) -> CategoryModel:
    """L2-regularised logistic regression by AdaGrad over binary features kept in at least
    MIN_POLICIES policies of records (with GATED, only those where the rules are silent on
    the category: the model learns what the rules miss, where it is used)."""
    if GATED[0]:
        records = [r for r in records if rules_silent(r, category)]
    seen: dict[str, set] = {}
    for r in records:
        for name in r["features"]:
            seen.setdefault(name, set()).add(r["policy"])
    kept = {n for n, policies in seen.items() if len(policies) >= MIN_POLICIES}
    data = [([n for n in r["features"] if n in kept], 1.0 if r["labels"][category] else 0.0)
            for r in records]
    weights: dict[str, float] = {}
    squares: dict[str, float] = {}
    bias, bias_square = 0.0, 1e-8
    order = list(range(len(data)))
    rng = random.Random(SEED)
    for _ in range(EPOCHS):
        rng.shuffle(order)
        for i in order:
            names, y = data[i]
            z = bias + sum(weights.get(n, 0.0) for n in names)
            g = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))) - y
            bias_square += g * g
            bias -= RATE * g / math.sqrt(bias_square)
            for n in names:
                w = weights.get(n, 0.0)
                grad = g + L2 * w
                squares[n] = squares.get(n, 1e-8) + grad * grad
                weights[n] = w - RATE * grad / math.sqrt(squares[n])
    return CategoryModel(category, bias, weights, 0.5)


def model_says(model: CategoryModel, record: dict) -> bool:
    """The model's suggestion as scanner.model makes it at run time (the record as one sentence)."""
    found = Model("en", "cv", {model.category: model}).sentence_findings(
        record["judged"], 0, len(record["judged"]), record.get("heading") or "", record["findings"])
    return bool(found)


def labelled(records, category):
    return [r for r in records if r["labels"].get(category) is not None]


def score(records, category, model: CategoryModel | None) -> Score:
    s = Score()
    for r in labelled(records, category):
        guess = rules_say(r, category) or (model is not None and rules_silent(r, category)
                                           and model_says(model, r))
        label = bool(r["labels"][category])
        if guess and label:
            s.tp += 1
        elif guess:
            s.fp += 1
        elif label:
            s.fn += 1
        else:
            s.tn += 1
    return s


def folds(records, count: int) -> list[list[str]]:
    """Policies split into count folds, whole policies only, by a hash unlike is_frozen's."""
    policies = sorted({r["policy"] for r in records},
                      key=lambda p: (zlib.crc32(("fold:" + p).encode()), p))
    return [policies[i::count] for i in range(count)]


def add(total: Score, part: Score) -> None:
    total.tp, total.fp, total.fn, total.tn = (total.tp + part.tp, total.fp + part.fp,
                                              total.fn + part.fn, total.tn + part.tn)


def pick_threshold(records, category) -> float:
    """The threshold of best pooled F1 over an inner grouped CV of records, among those that
    keep the precision within MAX_PRECISION_DROP of the rules' (as the enabling criterion);
    the highest threshold when none does."""
    totals = {t: Score() for t in THRESHOLDS}
    rules_alone = Score()
    for held in folds(records, INNER_FOLDS):
        held = set(held)
        model = train(labelled([r for r in records if r["policy"] not in held], category), category)
        test = [r for r in records if r["policy"] in held]
        add(rules_alone, score(test, category, None))
        for t in THRESHOLDS:
            model.threshold = t
            add(totals[t], score(test, category, model))
    allowed = [t for t in THRESHOLDS
               if totals[t].precision >= rules_alone.precision - MAX_PRECISION_DROP]
    return max(allowed or THRESHOLDS[-1:], key=lambda t: (round(totals[t].f1, 6), t))


def cross_validate(records, category, groups: list[list[str]]) -> tuple[list, list]:
    """(outcomes, thresholds chosen): an outcome per held-out labelled record, (set, policy,
    label, rules alone say it, rules + model say it)."""
    outcomes, chosen = [], []
    for held in groups:
        held = set(held)
        training = [r for r in records if r["policy"] not in held]
        model = train(labelled(training, category), category)
        model.threshold = pick_threshold(training, category)
        chosen.append(model.threshold)
        for r in labelled([r for r in records if r["policy"] in held], category):
            alone = rules_say(r, category)
            both = alone or (rules_silent(r, category) and model_says(model, r))
            outcomes.append((r["set"], r["policy"], bool(r["labels"][category]), alone, both))
    return outcomes, chosen


def pooled(outcomes, which: int) -> Score:
    """Score of the outcomes' guesses: which 3 the rules alone, 4 the rules + model."""
    s = Score()
    for *_, label, alone, both in outcomes:
        guess = (alone, both)[which - 3]
        s.tp += guess and label
        s.fp += guess and not label
        s.fn += label and not guess
        s.tn += not guess and not label
    return s


def bootstrap(outcomes, draws: int = BOOTSTRAP) -> tuple[float, float, float]:
    """95 % interval of the F1 gain, resampling whole policies, and the share of draws with
    no gain."""
    by_policy: dict[str, list] = {}
    for outcome in outcomes:
        by_policy.setdefault(outcome[1], []).append(outcome)
    policies, rng, gains_drawn = sorted(by_policy), random.Random(SEED), []
    for _ in range(draws):
        sample = [o for _ in policies for o in by_policy[rng.choice(policies)]]
        gains_drawn.append(pooled(sample, 4).f1 - pooled(sample, 3).f1)
    gains_drawn.sort()
    return (gains_drawn[int(0.025 * draws)], gains_drawn[int(0.975 * draws) - 1],
            sum(g <= 0 for g in gains_drawn) / draws)


def gains(alone: Score, both: Score) -> bool:
    return (both.f1 - alone.f1 >= MIN_GAIN
            and both.precision >= alone.precision - MAX_PRECISION_DROP)


def row(category, alone, both, extra="") -> str:
    return (f"{category:20} {alone.precision:5.3f} {alone.recall:5.3f} {alone.f1:5.3f}   "
            f"{both.precision:5.3f} {both.recall:5.3f} {both.f1:5.3f}  {both.f1 - alone.f1:+.3f}"
            f"  {extra}")


def curve(records, category, groups) -> str:
    """Diagnostic: rules + model F1 pooled over the held-out groups at each fixed threshold."""
    totals = {t: Score() for t in THRESHOLDS[::2]}
    for held in groups:
        held = set(held)
        model = train(labelled([r for r in records if r["policy"] not in held], category), category)
        test = [r for r in records if r["policy"] in held]
        for t in totals:
            model.threshold = t
            add(totals[t], score(test, category, model))
    return " ".join(f"{t:.1f}:{s.f1:.3f}" for t, s in totals.items())


def report_cv(records, by_set: bool, show_curve: bool = False) -> dict:
    """Print grouped-CV figures per category; return {category: (alone, both, thresholds)}."""
    by_set_groups = by_set
    if by_set:
        groups = [sorted({r["policy"] for r in records if r["set"] == name})
                  for name in dict.fromkeys(r["set"] for r in records)]
        what = "leave one set out (" + ", ".join(dict.fromkeys(r["set"] for r in records)) + ")"
    else:
        groups = folds(records, FOLDS)
        what = f"{FOLDS} folds of whole policies"
    print(f"\ngrouped CV, {what}: {len(records)} records, "
          f"{len({r['policy'] for r in records})} policies")
    print(f"{'category (mode)':20} {'rules alone P/R/F1':19} {'rules + model P/R/F1':21} gain"
          "  thresholds")
    results = {}
    for category in MODES:
        if category in NEVER_SUGGESTED:
            alone = Score()
            for r in labelled(records, category):
                add(alone, score([r], category, None))
            print(f"{category:20} {alone.precision:5.3f} {alone.recall:5.3f} {alone.f1:5.3f}"
                  "   (never suggested by the model: precision first)")
            continue
        outcomes, chosen = cross_validate(records, category, groups)
        alone, both = pooled(outcomes, 3), pooled(outcomes, 4)
        results[category] = (alone, both, chosen)
        low, high, none = bootstrap(outcomes)
        print(row(category, alone, both, " ".join(f"{t:.2f}" for t in chosen)
                  + f"  95% [{low:+.3f}, {high:+.3f}], no gain in {none:.0%}"
                  + ("  gain" if gains(alone, both) else "")))
        unseen = [o for o in outcomes if o[0] in UNSEEN]
        if unseen and not by_set_groups:
            low, high, none = bootstrap(unseen)
            print(row("  " + "+".join(sorted({o[0][-1] for o in unseen})) + " only",
                      pooled(unseen, 3), pooled(unseen, 4),
                      f"rules unseen: {len({o[1] for o in unseen})} policies; "
                      f"95% [{low:+.3f}, {high:+.3f}], no gain in {none:.0%}"))
        if show_curve:
            print(f"{'':20} fixed thresholds: {curve(records, category, groups)}")
    return results


def rules_commit() -> str:
    """The commit of the rules the model was trained beside (RULES_COMMIT when trained in an
    exported copy of a commit), '+changes' when the rule files differ from it."""
    import os
    import subprocess

    if os.environ.get("RULES_COMMIT"):
        return os.environ["RULES_COMMIT"]
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "rules/policy"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if changed else "")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dev_guard(model: CategoryModel) -> dict:
    """The category's topic F1 on the OPP-115 and C3PA dev files, rules alone and with the
    model: a veto (drop) when either falls by more than GUARD_DROP. A check, never a fit: no
    setting is chosen from these files."""
    rules, found = load_rules(), {}
    for name in GUARD_FILES:
        path = EVAL_DIR / name
        if not path.exists():
            continue
        records = read_labelled(path)
        alone = evaluate(records, rules, mode="topic", lang="en").scores.get(model.category)
        both = evaluate(records, rules, mode="topic", lang="en",
                        model=Model("en", "guard", {model.category: model})).scores.get(
                            model.category)
        if alone is not None:
            found[name] = [round(alone.f1, 4), round(both.f1, 4)]
            print(f"dev guard {model.category} {name} topic F1: {alone.f1:.3f} -> {both.f1:.3f}")
    return {"topic_f1": found,
            "drop": any(before - after > GUARD_DROP for before, after in found.values())}


def write_weights(records, results: dict, names, forced=()) -> Path:
    """Train each category on all the records; write rules/model/en.json (no text). forced:
    categories enabled whatever CV said (recorded as such)."""
    categories = {}
    for category, (alone, both, chosen) in results.items():
        enabled = gains(alone, both) or category in forced
        threshold = pick_threshold(records, category)
        model = train(labelled(records, category), category)
        model.threshold = threshold
        weights = {n: round(w, 4) for n, w in sorted(model.weights.items()) if abs(w) >= 0.005}
        guard = dev_guard(model) if enabled and category not in forced else None
        if guard and guard["drop"]:
            enabled = False
        categories[category] = {
            "enabled": enabled, "threshold": threshold, "bias": round(model.bias, 4),
            "enabled_by": ("cv" if gains(alone, both) else "hand (--enable), below the CV "
                           "criterion") if enabled else None,
            "dev_guard": guard,
            "mode": MODES[category], "weights": weights,
            "cv": {"rules": alone.as_dict(), "rules_and_model": both.as_dict(),
                   "thresholds": chosen}}
    out = {
        "lang": "en",
        "about": "Logistic regression per category over a sentence's words, word pairs, heading "
                 "words and the rules fired on it (scanner/model.py); trained by "
                 "bench/train_model.py on the tuning parts of the sets below. No text.",
        "trained_on": [{"set": name, "labels": str(LABEL_FILES[name].relative_to(ROOT.parent))
                        if name == "real-dev" else str(LABEL_FILES[name].relative_to(ROOT)),
                        "sha256": sha256(LABEL_FILES[name]),
                        "records": sum(r["set"] == name for r in records),
                        "policies": len({r["policy"] for r in records if r["set"] == name})}
                       for name in names],
        "rules_commit": rules_commit(),
        "training": {"epochs": EPOCHS, "rate": RATE, "l2": L2, "seed": SEED,
                     "min_policies": MIN_POLICIES, "folds": FOLDS, "inner_folds": INNER_FOLDS,
                     "min_gain": MIN_GAIN, "max_precision_drop": MAX_PRECISION_DROP,
                     "trigger_words": TRIGGER_WORDS},
        "categories": categories,
    }
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    path = MODEL_DIR / "en.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return path


def score_only(name: str, every: bool = False) -> None:
    """Rules and rules + the committed model on a set's tuning part, as bench/accuracy.py does
    (every: each category's model, the ones CV did not enable too)."""
    path = SETS.get(name) or TEXTS_DIR / f"{name}.jsonl"
    records = [r for r in read_labelled(path) if not is_frozen(r["policy"])]
    rules = load_rules()
    model = read_model(MODEL_DIR / "en.json", every=True) if every else load_model("en")
    print(f"{name} tuning part: {len(records)} records, {len({r['policy'] for r in records})} "
          f"policies; model {model.version if model else 'none'}")
    for category, mode in MODES.items():
        alone = evaluate(records, rules, mode=mode, lang="en").scores.get(category)
        both = evaluate(records, rules, mode=mode, lang="en", model=model).scores.get(category)
        if alone is not None:
            print(row(f"{category} ({mode[:5]})", alone, both))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--by-set", action="store_true", help="also leave one set out")
    parser.add_argument("--curve", action="store_true",
                        help="also F1 at fixed thresholds (a diagnostic, not how they are chosen)")
    parser.add_argument("--write", action="store_true", help="write rules/model/en.json")
    parser.add_argument("--score-only", metavar="SET")
    parser.add_argument("--enable", nargs="+", default=[], metavar="CATEGORY",
                        choices=[c for c in MODES if c not in NEVER_SUGGESTED],
                        help="with --write: enable these categories whatever CV says")
    parser.add_argument("--gated", action="store_true",
                        help="train only on the records where the rules are silent")
    parser.add_argument("--every-category", action="store_true",
                        help="with --score-only: the model of every category, enabled or not")
    args = parser.parse_args()
    GATED[0] = args.gated
    if args.score_only:
        score_only(args.score_only, args.every_category)
        return
    records = load_sets(args.sets)
    results = report_cv(records, by_set=False, show_curve=args.curve)
    if args.by_set:
        report_cv(records, by_set=True, show_curve=args.curve)
    if args.write:
        path = write_weights(records, results, args.sets, args.enable)
        model = read_model(path)
        print(f"\nwrote {path.relative_to(ROOT)} ({model.version}): enabled "
              + (", ".join(f"{c} (threshold {m.threshold:.2f})" for c, m in model.categories.items())
                 or "none"))


if __name__ == "__main__":
    main()
