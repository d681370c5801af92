"""A fresh validation sample for the English sharing and behavioural-ads rules (issue 14, session
7, set real-audit-e): sentences of unseen policies, labelled once the rule edits of the round were
frozen, then scored (never tuned on).

Pool: the policies of bench/data/labels/real-audit-d-pool.json (the latest English privacy policy
of every service no earlier set used; bench/sale_ads_audit.py --pool d) that have no record in
real-audit-d.jsonl (nobody has read a sentence of them) and that bench/accuracy.py's `is_frozen`
does not freeze. Sorted by policy and shuffled by random.Random(SEED); the first N_POLICIES usable
ones are taken, passing over EXCLUDED (bench/audit_pool.py's rules: not hard-wrapped, at least
MIN_PIECES pieces left once pieces identical or near-verbatim to a sentence of a held-back
service's policy or of a policy already used are dropped, and more kept than dropped). Pieces as
bench/audit_pool.py's. Per policy, random.Random(sha256(SEED:policy)) orders the kept pieces;
taken in that order: RANDOM pieces ("sampled": "random"), then SHARING pieces naming a recipient
or a disclosure ("sharing"), then ADS pieces naming advertising ("ads"). Labels:
third_party_sharing and behavioral_ads in the semantics of ../shared/eval/real-dev-SOURCES.md; the
other three categories are left null.

Run: .venv/bin/python bench/audit_pool_e.py sample --out FILE --reading /tmp/reading.jsonl
(the reading copy holds policy text: never commit it; the labels file has labels null).
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
RANDOM, SHARING, ADS = 3, 2, 3
LABELS = ROOT / "bench" / "data" / "labels"
# Another used policy's text under a second name (SOURCES.md says so): Agame is Spil Games' policy
# of real-extra-d's GirlsGoGames, MTV Viacom's of real-extra-b's Nickelodeon.
EXCLUDED = {"agame", "mtv"}
SHARING_WORDS = re.compile(
    r"\b(?:shar(?:e|es|ed|ing)|disclos\w*|transfer\w*|third[- ]part\w*|partners?|affiliates?|"
    r"service\s+providers?|vendors?|processors?|advertisers?|sell|sold|made\s+available)\b", re.I)
AD_WORDS = re.compile(r"\b(?:advertis\w*|ads?|interest-based|personali[sz]ed|targeted|retarget\w*|"
                      r"remarket\w*|cross-context)\b", re.I)


def sample(mirrors: Path, out: Path, reading: Path) -> None:
    pool = json.loads((LABELS / "real-audit-d-pool.json").read_text(encoding="utf-8"))["policies"]
    read = {json.loads(line)["policy"] for line in open(LABELS / "real-audit-d.jsonl",
                                                          encoding="utf-8") if line.strip()}
    eligible = [p for p in pool if p["policy"] not in read and not audit_pool.frozen(p["policy"])]
    # (pool D itself left out of the reference texts, or every policy would repeat itself)
    _, used_files = audit_pool.used_services(own="real-audit-d-pool.json")
    files = audit_pool.archive_files(mirrors)
    exact, grams = audit_pool.reference_sentences(mirrors, files, used_files, set())
    order = sorted(eligible, key=lambda p: p["policy"])
    random.Random(SEED).shuffle(order)
    records, picked = [], []
    for policy in order:
        if len(picked) == N_POLICIES:
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
        rng = random.Random(int(sha256(f"{SEED}:{policy['policy']}"), 16))
        rng.shuffle(kept)
        chosen = [(s, e, "random") for s, e in kept[:RANDOM]]
        rest = kept[RANDOM:]
        sharing = [(s, e) for s, e in rest if SHARING_WORDS.search(text[s:e])][:SHARING]
        chosen += [(s, e, "sharing") for s, e in sharing]
        ads = [(s, e) for s, e in rest if (s, e) not in sharing and AD_WORDS.search(text[s:e])]
        chosen += [(s, e, "ads") for s, e in ads[:ADS]]
        paths = heading_paths(text)
        for s, e, how in sorted(chosen):
            records.append({"source": policy["source"], "path": policy["path"],
                            "commit": policy["commit"], "policy": policy["policy"], "start": s,
                            "end": e, "sha256": sha256(text[s:e]), "heading": heading_at(paths, s),
                            "lang": "en", "sampled": how, "text": text[s:e],
                            "before": text[max(0, s - 300):s].rstrip().rsplit("\n", 1)[-1]})
    with open(out, "w", encoding="utf-8") as labels, open(reading, "w", encoding="utf-8") as copy:
        for number, record in enumerate(records, 1):
            record = {"id": f"{SET}-{number}", **record}
            copy.write(json.dumps(record, ensure_ascii=False) + "\n")
            for key in ("text", "before"):
                record.pop(key)
            record["labels"] = dict.fromkeys(
                ("collection", "third_party_sharing", "sale", "behavioral_ads", "children"))
            labels.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{len(eligible)} eligible, {len(picked)} chosen, {len(records)} records")
    for p in picked:
        print(f"{p['policy']:28} {p['source']:38} {p['path']:45} {p['commit'][:12]} {p['date']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sample"])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=LABELS / f"{SET}.jsonl")
    parser.add_argument("--reading", type=Path, default=Path(f"/tmp/{SET}-reading.jsonl"))
    args = parser.parse_args()
    sample(args.mirrors, args.out, args.reading)


if __name__ == "__main__":
    main()
