"""How much of the web's most prevalent tracker domains the curated list recognises, and with the
right owner, measured against DuckDuckGo Tracker Radar's prevalence ranking (the TDS).

The TDS is CC BY-NC-SA 4.0: it is read here to measure, never copied into the repository.
Recognised = `TrackerList.lookup(domain)` of the curated files alone (no imported lists) finds a
rule; right owner = that rule's entity is the TDS owner (names compared without legal suffixes,
or through OWNER_ALIASES where a name differs for a stated reason).

Run: .venv/bin/python bench/tracker_coverage.py [--tds PATH] [--rules DIR] [--top 50 100 200] [--misses 200]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner.paths import TRACKER_RULES_DIR  # noqa: E402
from scanner.trackers import TrackerList  # noqa: E402

DEFAULT_TDS = ROOT.parent / "shared" / "lists" / "duckduckgo-tracker-blocklists" / "web" / "v6" / "extension-tds.json"

# Entries of the TDS that are the blocklist's own test fixtures (DuckDuckGo's privacy test pages,
# EFF's tracker simulator), not companies: left out of the ranking.
TEST_FIXTURE_OWNERS = {"Ad Company Example", "Ad Company", "Test Site for Tracker Blocking",
                       "EFF Test Trackers"}

# Our entity name -> TDS owner names that are the same company for a stated reason (renames,
# acquisitions, a subsidiary the TDS names instead of its parent). Names equal once legal suffixes
# are dropped ("Criteo SA"), or one a word-prefix of the other ("Google Ads"), need no entry.
OWNER_ALIASES = {
    "Meta": {"Facebook"},                         # renamed 2021
    "Yahoo": {"Verizon Media", "Oath"},           # Verizon Media sold as Yahoo 2021
    "LinkedIn": {"Microsoft"},                    # a Microsoft subsidiary since 2016
    "Magnite": {"Telaria", "The Rubicon Project", "SpotX"},  # merged 2020, SpotX bought 2021
    "Nexxen": {"Amobee", "Unruly Group", "RhythmOne", "Tremor International"},  # Tremor bought
                                                  # RhythmOne 2019, Unruly 2020, Amobee 2022
    "Experian": {"Tapad"},                        # bought 2019
    "Epsilon": {"Conversant"},                    # Conversant merged into Epsilon
    "Equativ": {"Smartadserver"},                 # Smart AdServer renamed 2022
    "StackAdapt": {"Collective Roll"},            # StackAdapt's legal name
    "Intent IQ": {"Almondnet Group"},             # Intent IQ is AlmondNet's
    "jsDelivr": {"Prospect One"},                 # jsDelivr is run by Prospect One
    "BidSwitch": {"IPONWEB"},                     # an IPONWEB platform
    "FreeWheel": {"Beeswax"},                     # bought 2021
    "Simpli.fi": {"Simplifi Holdings"},
    "Outbrain": {"Teads"},                        # Outbrain bought Teads 2025, took its name
    "Flashtalking": {"Mediaocean"},               # a Mediaocean company since 2022
    "Viant": {"Adelphic"},                        # bought 2017
    "Basis Technologies": {"Centro"},             # Centro renamed 2021
    "Samsung Ads": {"AdGear"},                    # AdGear is Samsung Ads' platform
    "Raptive": {"AdThrive"},                      # AdThrive renamed 2023
    "Vericast": {"Valassis Digital"},             # Valassis is part of Vericast
    "PDD Holdings": {"Pinduoduo"},                # Pinduoduo Inc. renamed 2023
    "NextRoll": {"AdRoll"},                       # AdRoll's parent, renamed 2019
}

LEGAL_SUFFIXES = {"inc", "llc", "ltd", "limited", "corp", "corporation", "co", "sa", "s", "a",
                  "sas", "gmbh", "ag", "bv", "as", "plc", "pte", "holdings", "fz", "the", "com"}


def normalized(name: str) -> str:
    words = re.sub(r"[^a-z0-9]+", " ", name.lower()).split()
    return " ".join(w for w in words if w not in LEGAL_SUFFIXES)


def name_variants(name: str) -> set[str]:
    """'Google Ads (Google)' -> {'google ads', 'google'}: the name and any parenthesised one."""
    variants = {name}
    inner = re.search(r"\(([^)]*)\)", name)
    if inner:
        variants |= {name[:inner.start()].strip(), inner.group(1).strip()}
    return {normalized(v) for v in variants if normalized(v)}


def same_owner(ours: str, tds_names: list[str]) -> bool:
    """Equal after normalising, one a word-prefix of the other, or listed in OWNER_ALIASES."""
    theirs = set().union(*(name_variants(n) for n in tds_names if n))
    aliases = {normalized(a) for a in OWNER_ALIASES.get(ours, ())}
    if theirs & aliases:
        return True
    for mine in name_variants(ours):
        for other in theirs:
            if mine == other or other.startswith(mine + " ") or mine.startswith(other + " "):
                return True
    return False


def tds_ranking(tds_path: Path) -> list[dict]:
    """TDS tracker domains by prevalence, most prevalent first, test fixtures left out."""
    data = json.loads(Path(tds_path).read_text(encoding="utf-8"))
    entities = data.get("entities") or {}
    rows = []
    for domain, tracker in data["trackers"].items():
        owner = tracker.get("owner") or {}
        if owner.get("name") in TEST_FIXTURE_OWNERS:
            continue
        names = [owner.get("name"), owner.get("displayName"),
                 (entities.get(owner.get("name")) or {}).get("displayName")]
        rows.append({"domain": domain, "owner": owner.get("displayName") or owner.get("name") or "",
                     "owner_names": [n for n in names if n],
                     "prevalence": tracker.get("prevalence") or 0})
    rows.sort(key=lambda r: (-r["prevalence"], r["domain"]))
    return rows


def curated_trackers(rules_dir: Path = TRACKER_RULES_DIR) -> TrackerList:
    """The curated files alone: imported lists a user holds must not inflate the figure."""
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(Path(rules_dir).glob("*.yaml")):
            shutil.copy(path, tmp)
        return TrackerList.load(Path(tmp), extra=[])


def coverage(trackers: TrackerList, ranking: list[dict], top: int) -> dict:
    """Recognised and right-owner counts of the `top` most prevalent domains, with the misses."""
    recognised = right_owner = owner_unknown = 0
    misses = []
    for row in ranking[:top]:
        info = trackers.lookup(row["domain"])
        if info is None:
            misses.append((row, None))
            continue
        recognised += 1
        if owner_unknown_to_tds(row):
            # The TDS names no company (its owner is the domain itself): ours can't be checked.
            owner_unknown += 1
            right_owner += 1
        elif same_owner(info.entity, row["owner_names"]):
            right_owner += 1
        else:
            misses.append((row, info.entity))
    return {"top": min(top, len(ranking)), "recognised": recognised, "right_owner": right_owner,
            "owner_unknown": owner_unknown, "misses": misses}


def owner_unknown_to_tds(row: dict) -> bool:
    return all(name.lower() == row["domain"] for name in row["owner_names"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tds", type=Path, default=DEFAULT_TDS, help="DuckDuckGo extension-tds.json")
    parser.add_argument("--top", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--rules", type=Path, default=TRACKER_RULES_DIR,
                        help="Directory of curated tracker files (e.g. an older checkout's).")
    parser.add_argument("--misses", type=int, default=200, help="List the misses of this top N (0: none).")
    args = parser.parse_args()
    if not args.tds.is_file():
        sys.exit(f"{args.tds}: no such file (the DuckDuckGo TDS to measure against)")
    ranking = tds_ranking(args.tds)
    trackers = curated_trackers(args.rules)
    print(f"curated entities: {len(trackers.entities)}, tracker domains: {len(trackers.entries)}")
    print(f"ranking: {args.tds.name}, {len(ranking)} tracker domains (test fixtures left out)")
    for top in args.top:
        result = coverage(trackers, ranking, top)
        n = result["top"]
        print(f"top {n:>4}: recognised {result['recognised']:>4} ({result['recognised'] / n:6.1%})"
              f"   right owner {result['right_owner']:>4} ({result['right_owner'] / n:6.1%})"
              f"   (owner unknown to the TDS: {result['owner_unknown']})")
    if args.misses:
        misses = coverage(trackers, ranking, args.misses)["misses"]
        print(f"\nmisses in the top {args.misses} ({len(misses)}):")
        for row, ours in misses:
            rank = ranking.index(row) + 1
            what = "not recognised" if ours is None else f"owner: ours {ours!r}"
            print(f"  {rank:>4}  {row['domain']:<32} {row['owner']:<36} {what}")


if __name__ == "__main__":
    main()
