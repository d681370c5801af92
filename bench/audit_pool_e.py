"""Fresh validation samples of pool D (issue 14): sentences of unseen English policies, labelled
once a round's rule edits are frozen, then scored (never tuned on). Sets drawn with it:
real-audit-e (session 7, sharing and behavioural ads; the defaults redraw it exactly) and
real-audit-f (session 8, collection and children: --set real-audit-f --seed real-audit-f-2026
--policies /work/notes/pools8.json:collection --strata random:3,collection:3,children:1 --split).

Pool: the policies of bench/data/labels/real-audit-d-pool.json (the latest English privacy policy
of every service no earlier set used; bench/sale_ads_audit.py --pool d) that have no record in
real-audit-d.jsonl (nobody has read a sentence of them) and that bench/accuracy.py's `is_frozen`
does not freeze; with --policies, only those named there (a JSON list, or FILE:KEY for a list
under a key of a JSON object, or one name a line). Sorted by policy and shuffled by
random.Random(SEED); the first N_POLICIES usable ones are taken, passing over EXCLUDED
(bench/audit_pool.py's rules: not hard-wrapped, at least MIN_PIECES pieces left once pieces
identical or near-verbatim to a sentence of a held-back service's policy or of a policy already
used are dropped, and more kept than dropped). Pool D's unread policies are never reference
texts, so sets drawn from it do not depend on the order in which they were drawn. Pieces as
bench/audit_pool.py's. Per policy, random.Random(sha256(SEED:policy)) orders the kept pieces;
taken in that order per stratum of --strata (NAME:COUNT, in order): `random` takes the first
COUNT pieces, a keyword stratum the next COUNT unused pieces its pattern matches (STRATA:
sharing = a recipient or a disclosure, ads = advertising, collection = collecting, receiving,
keeping or using data, children = children, minors, parents, an age). Each record's "sampled" is
its stratum. --split: part B (validation) is a seeded half of the chosen policies
(random.Random(SEED:split)), records carry "part": "A" | "B". --any-policy: also the policies
is_frozen freezes; --frozen: every record "part": "frozen" (bench/accuracy.py's part_of: a set
labelled only to be frozen, real-frozen-i: --set real-frozen-i --seed real-frozen-i-2026
--policies /work/notes/pools8.json:frozen_set --n-policies 30
--strata random:3,collection:1,sharing:1,ads:1,children:1 --any-policy --frozen). Labels are null; the set's
SOURCES.md section says which categories were labelled.

Run: .venv/bin/python bench/audit_pool_e.py sample [--set ...] --out FILE --reading /tmp/r.jsonl
(the reading copy holds policy text: never commit it), then
.venv/bin/python bench/audit_pool_e.py score --set NAME --part B (texts from bench/.texts: run
bench/eval_texts.py materialise first; A's errors with --errors, never B's).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import audit_pool  # noqa: E402
from bench.eval_texts import archived_text, git_dir, heading_at, heading_paths, sha256  # noqa: E402

SEED = "real-audit-e-2026"
SET = "real-audit-e"
N_POLICIES = 30
STRATA = "random:3,sharing:2,ads:3"
LABELS = ROOT / "bench" / "data" / "labels"
CATEGORIES = ("collection", "third_party_sharing", "sale", "behavioral_ads", "children")
# Another used policy's text under a second name (SOURCES.md says so): Agame is Spil Games' policy
# of real-extra-d's GirlsGoGames, MTV Viacom's of real-extra-b's Nickelodeon.
EXCLUDED = {"agame", "mtv"}
SHARING_WORDS = re.compile(
    r"\b(?:shar(?:e|es|ed|ing)|disclos\w*|transfer\w*|third[- ]part\w*|partners?|affiliates?|"
    r"service\s+providers?|vendors?|processors?|advertisers?|sell|sold|made\s+available)\b", re.I)
AD_WORDS = re.compile(r"\b(?:advertis\w*|ads?|interest-based|personali[sz]ed|targeted|retarget\w*|"
                      r"remarket\w*|cross-context)\b", re.I)
COLLECTION_WORDS = re.compile(
    r"\b(?:collect\w*|receiv\w*|obtain\w*|gather\w*|stor(?:e|es|ed|ing|age)|retain\w*|retention|"
    r"keep|kept|log(?:s|ged|ging)?|record\w*|infer\w*|cookies?|we\s+(?:may\s+)?use|"
    r"used?\s+(?:to|for|by)|how\s+we\s+use|process(?:es|ed|ing)?)\b", re.I)
CHILDREN_WORDS = re.compile(
    r"\b(?:child(?:ren)?(?:'s)?|kids?|minors?|teen\w*|parent(?:s|al)?|guardians?|coppa|"
    r"under\s+(?:the\s+age\s+of\s+)?1[0-8]|age\s+of\s+1[0-8]|1[0-8]\s+years)\b", re.I)
WORDS = {"sharing": SHARING_WORDS, "ads": AD_WORDS, "collection": COLLECTION_WORDS,
         "children": CHILDREN_WORDS}


def strata(spec: str) -> list[tuple[str, int]]:
    out = []
    for item in spec.split(","):
        name, _, count = item.strip().partition(":")
        if name != "random" and name not in WORDS:
            raise SystemExit(f"unknown stratum {name!r} (random, {', '.join(WORDS)})")
        out.append((name, int(count)))
    return out


def named_policies(spec: str | None) -> set[str] | None:
    if not spec:
        return None
    path, _, key = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    text = Path(path).read_text(encoding="utf-8")
    if key:
        return set(json.loads(text)[key])
    if text.lstrip().startswith("["):
        return set(json.loads(text))
    return {line.strip() for line in text.splitlines() if line.strip()}


def choose_pieces(text: str, kept: list[tuple[int, int]], plan: list[tuple[str, int]],
                  rng: random.Random) -> list[tuple[int, int, str]]:
    order = list(kept)
    rng.shuffle(order)
    chosen, used = [], set()
    for name, count in plan:
        if name == "random":
            picked = [piece for piece in order if piece not in used][:count]
        else:
            picked = [piece for piece in order if piece not in used
                      and WORDS[name].search(text[piece[0]:piece[1]])][:count]
        chosen += [(s, e, name) for s, e in picked]
        used.update(picked)
    return chosen


def sample(mirrors: Path, out: Path, reading: Path, name: str = SET, seed: str = SEED,
           policies: set[str] | None = None, plan: str = STRATA, n_policies: int = N_POLICIES,
           split: bool = False, any_policy: bool = False, part: str | None = None) -> None:
    pool = json.loads((LABELS / "real-audit-d-pool.json").read_text(encoding="utf-8"))["policies"]
    read = {json.loads(line)["policy"] for line in open(LABELS / "real-audit-d.jsonl",
                                                          encoding="utf-8") if line.strip()}
    unread = [p for p in pool if p["policy"] not in read]
    eligible = [p for p in unread if (any_policy or not audit_pool.frozen(p["policy"]))
                and (policies is None or p["policy"] in policies)]
    # (pool D itself left out of the reference texts, or every policy would repeat itself; its
    # unread policies also when a later set names them, so no draw depends on another's)
    _, used_files = audit_pool.used_services(own="real-audit-d-pool.json")
    used_files -= {(p["source"], p["path"]) for p in unread}
    files = audit_pool.archive_files(mirrors)
    exact, grams = audit_pool.reference_sentences(mirrors, files, used_files, set())
    order = sorted(eligible, key=lambda p: p["policy"])
    random.Random(seed).shuffle(order)
    records, picked = [], []
    for policy in order:
        if len(picked) == n_policies:
            break
        if policy["policy"] in EXCLUDED:  # passed over after the shuffle (the order stays)
            continue
        text = archived_text(git_dir(policy["source"], mirrors), policy["commit"], policy["path"])
        if audit_pool.hard_wrapped(text):
            continue
        mine = audit_pool.pieces(text)
        kept = [(s, e) for s, e in mine if not audit_pool.near_verbatim(text[s:e], exact, grams)]
        if len(kept) < max(audit_pool.MIN_PIECES, len(mine) - len(kept)):
            continue
        picked.append(policy)
        rng = random.Random(int(sha256(f"{seed}:{policy['policy']}"), 16))
        paths = heading_paths(text)
        for s, e, how in sorted(choose_pieces(text, kept, strata(plan), rng)):
            records.append({"source": policy["source"], "path": policy["path"],
                            "commit": policy["commit"], "policy": policy["policy"], "start": s,
                            "end": e, "sha256": sha256(text[s:e]), "heading": heading_at(paths, s),
                            "lang": "en", "sampled": how, "text": text[s:e],
                            "before": text[max(0, s - 300):s].rstrip().rsplit("\n", 1)[-1]})
    parts = {p["policy"]: part for p in picked} if part else {}
    if split:
        names = sorted(p["policy"] for p in picked)
        b = set(random.Random(f"{seed}:split").sample(names, len(names) // 2))
        parts = {n: "B" if n in b else "A" for n in names}
    with open(out, "w", encoding="utf-8") as labels, open(reading, "w", encoding="utf-8") as copy:
        for number, record in enumerate(records, 1):
            record = {"id": f"{name}-{number}", **record}
            if parts:
                record["part"] = parts[record["policy"]]
            copy.write(json.dumps(record, ensure_ascii=False) + "\n")
            for key in ("text", "before"):
                record.pop(key)
            record["labels"] = dict.fromkeys(CATEGORIES)
            labels.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{len(eligible)} eligible, {len(picked)} chosen, {len(records)} records")
    for p in picked:
        print(f"{parts.get(p['policy'], '-')} {p['policy']:28} {p['source']:38} {p['path']:45} "
              f"{p['commit'][:12]} {p['date']}")


def score(name: str, part: str | None, errors: bool, rules_dir: Path | None = None) -> None:
    """Scores of a labelled set rebuilt in bench/.texts, optionally one part: practice P/R/F1 of
    the four practice categories and topic F1 of every category, per stratum and in all; errors
    (practice; children in topic mode) only of part A."""
    from scanner.evaluate import evaluate
    from scanner.matching import load_rules
    from scanner.rule_schema import rule_files
    rules = load_rules(rule_files(rules_dir)) if rules_dir else load_rules()
    texts = ROOT / "bench" / ".texts" / f"{name}.jsonl"
    records = [json.loads(line) for line in texts.open(encoding="utf-8") if line.strip()]
    labelled = {r["id"]: r for r in map(json.loads, (LABELS / f"{name}.jsonl").open(
        encoding="utf-8"))}
    chosen = [r for r in records if part is None or labelled[r["id"]].get("part") == part]
    for how in sorted({labelled[r["id"]]["sampled"] for r in chosen}) + ["all"]:
        subset = [r for r in chosen if how == "all" or labelled[r["id"]]["sampled"] == how]
        practice = evaluate(subset, rules, mode="practice", lang="en")
        topic = evaluate(subset, rules, mode="topic", lang="en")
        cells = []
        for category in CATEGORIES:
            if category not in practice.scores:  # no record labels it
                continue
            p, t = practice.scores[category], topic.scores[category]
            scored = "" if category == "children" else (  # a topic label: no risk findings
                f"practice {p.f1:.3f} (P {p.precision:.3f} R {p.recall:.3f}, tp {p.tp} fp {p.fp} "
                f"fn {p.fn}) ")
            cells.append(f"{category} {scored}topic {t.f1:.3f} (P {t.precision:.3f} "
                         f"R {t.recall:.3f}, tp {t.tp} fp {t.fp} fn {t.fn})")
        print(f"{part or 'all'} {how} ({len(subset)} records, "
              f"{len({r['policy'] for r in subset})} policies):\n  " + "\n  ".join(cells))
    if errors and part == "A":
        from scanner.evaluate import judged_texts, predicted_categories
        from scanner.matching import classify
        for record, text in zip(chosen, judged_texts(chosen), strict=True):
            found = classify(text, rules, lang="en", section=record.get("heading") or "")
            for category in CATEGORIES:
                want = record["labels"].get(category)
                mode = "topic" if category == "children" else "practice"
                if want is None or want == (category in predicted_categories(found, mode)):
                    continue
                hit = [f.rule_id for f in found if f.category == category]
                print(f"{'FN' if want else 'FP'} {category} {record['id']} {hit}: "
                      f"[{record.get('heading') or ''}] {' '.join(text.split())[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sample", "score"])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--set", default=SET, help=f"set name, ids NAME-N (default {SET})")
    parser.add_argument("--seed", default=SEED, help=f"default {SEED}")
    parser.add_argument("--policies", help="only these pool-D policies: FILE (JSON list or one "
                        "a line) or FILE:KEY (a list under KEY of a JSON object)")
    parser.add_argument("--strata", default=STRATA, help=f"NAME:COUNT,... (default {STRATA}; "
                        f"names random, {', '.join(WORDS)})")
    parser.add_argument("--n-policies", type=int, default=N_POLICIES)
    parser.add_argument("--split", action="store_true", help="half the policies in part B")
    parser.add_argument("--any-policy", action="store_true", help="also the policies that "
                        "is_frozen freezes (for a frozen-only set)")
    parser.add_argument("--frozen", action="store_true", help='every record "part": "frozen" '
                        "(a set labelled to be a frozen part only; not with --split)")
    parser.add_argument("--out", type=Path, help="default bench/data/labels/SET.jsonl")
    parser.add_argument("--reading", type=Path, help="default /tmp/SET-reading.jsonl")
    parser.add_argument("--part", choices=["A", "B"], help="score: one part only")
    parser.add_argument("--errors", action="store_true", help="score: print A's errors")
    parser.add_argument("--rules", type=Path, help="score: another rules directory")
    args = parser.parse_args()
    if args.frozen and args.split:
        parser.error("--frozen and --split exclude each other")
    if args.command == "score":
        score(args.set, args.part, args.errors, args.rules)
        return
    sample(args.mirrors, args.out or LABELS / f"{args.set}.jsonl",
           args.reading or Path(f"/tmp/{args.set}-reading.jsonl"), args.set, args.seed,
           named_policies(args.policies), args.strata, args.n_policies, args.split,
           args.any_policy, "frozen" if args.frozen else None)


if __name__ == "__main__":
    main()
