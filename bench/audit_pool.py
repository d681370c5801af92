"""Pool of unseen English privacy policies for the sharing/collection audit (issue 14, set
real-audit-b): choose policies, split them A (tuning) / B (validation), sample sentences to label,
and score a labelled part.

Archives (git mirrors under --mirrors, as the session's `fetch` leaves them): ToS;DR's
tosback-versions (HEAD), Open Terms Archive's vlopses-us-versions (HEAD) and ToS;DR's tosback2
import TosbackCgusBridge-Bot/CGUs-versions (files only on its branches: the newest commit on any
branch that added or changed the path). Only files named "Privacy Policy.md"; the latest version
of each; one file per service (normalised name; vlopses-us, then tosback, then CGUs). Out: the
held-back services of issue 14 and their owners' shared policies, adult sites, every service of
bench/data/labels/SOURCES.md and ../shared/eval/real-dev-SOURCES.md, non-English files (stop-word
share) and files under 4,000 characters.

  pool      print the pool (one service per line) and the chosen policies with their part
  sample    write the records to label (labels null) to --out, and a reading copy with text
  score     score a labelled part of real-audit-b (scores only for B; errors only for A)

Selection (seed SEED): the pool is shuffled by random.Random(SEED) and the first N_POLICIES
policies taken. Part B holds every chosen policy that bench/accuracy.py's `is_frozen` freezes (so
the frozen third of this set stays unread by later sessions as well) and, of the others, a
seeded random sample that makes B half of the chosen policies; the rest is A. Policies with fewer than MIN_PIECES pieces left after
the repeat filter below, or more dropped than left (another policy's template), and hard-wrapped
texts are passed over. Sentences: pieces as real-extra-a (our splitter,
cut at newlines, Markdown marks trimmed; 25-450 characters, no link, table, HTML, <60% letters,
no ':' ending, no repeat); pieces identical (normalised) or near-verbatim (12+ words, >= 60% of
their word 5-grams) to a sentence of a held-back service's privacy policy in any mirrored archive,
or of a policy already used, are dropped. Per policy, random.Random(sha256(SEED:policy)): 12
random pieces ("sampled": "random"), then 3 more matching the keyword pattern
(share/disclose/provide/partners/collect/receive/store/log/obtain, "sampled": "keyword").

Run: .venv/bin/python bench/audit_pool.py pool|sample|score [--part A|B]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.eval_texts import (  # noqa: E402
    ArchiveError, _git, archived_text, git_dir, heading_at, heading_paths, sha256)
from scanner.sentences import split_sentences  # noqa: E402

SEED = "real-audit-b-2026"
SET = "real-audit-b"
N_POLICIES = 32
RANDOM_PER_POLICY = 12
KEYWORD_PER_POLICY = 3
MIN_PIECES = 20
MIRRORS = Path("/work/.mirror")
LABELS = ROOT / "bench" / "data" / "labels"
SOURCES = [LABELS / "SOURCES.md", ROOT.parent / "shared" / "eval" / "real-dev-SOURCES.md"]
# Sections written after real-audit-b was drawn: left out when it is redrawn (used_services).
LATER_SECTIONS = ("## real-audit-", "## th-extra-c")
ARCHIVES = ("OpenTermsArchive/vlopses-us-versions", "tosdr/tosback-versions",
            "TosbackCgusBridge-Bot/CGUs-versions")
ALL_ARCHIVES = ARCHIVES + ("OpenTermsArchive/contrib-versions", "OpenTermsArchive/pga-versions",
                           "OpenTermsArchive/genai-eu-versions", "OpenTermsArchive/france-versions")
FILE_NAME = "Privacy Policy.md"
# Held back in issue 14, and services whose policy is a held-back owner's (Meta, Disney, Mattel,
# Epic Games, Roblox, Activision Blizzard, Defy Media's Shockwave).
HELD_BACK = re.compile(
    r"youtube|khanacademy|tiktok|epicgames|kahoot|brickhill|habbo|flipgrid|peardeck|goguardian|"
    r"fisherprice|mattel|barbie|americangirl|snapchat|discord|hoyoverse|genshin|honkai|classlink|"
    r"roblox|guilded|classdojo|coolmath|spellingcity|shockwave|addictinggames|disney|espn|hulu|"
    r"abc(?:go|news)?$|marvel|pixar|starwars|clubpenguin|nationalgeographic|natgeo|instagram|"
    r"threads|facebook|^meta|messenger|oculus|twitch|spotify|netflix|pinterest|reddit|zoom|"
    r"weheartit|blizzard|battlenet|activision|tumblr|grammarly|wargaming|worldoftanks|"
    r"kongregate|mcgrawhill|turnitin|askfm|mcdonald|wizards|matichon|triamudom|houseparty|"
    r"artstation|unreal|^go$|babble|familyfun|freeform|duplicateof")
ADULT = re.compile(r"porn|xxx|xvideo|xnxx|stripchat|adultfriend|chaturbate|onlyfans|brazzers|"
                   r"livejasmin|ashleymadison|youporn|redtube|xhamster|camsoda|fling|"
                   r"manhunt|grindr|tinder|okcupid|match|plentyoffish|eharmony|zoosk|badoo")
STOP = frozenset("the and of to we you your our for in is are or that with by this may be "
                 "information as on not use".split())
ENGLISH_WORDS = frozenset("the and of to we you your our is are that with this by or".split())
KEYWORD = re.compile(r"\b(?:shar(?:e|es|ed|ing)|disclos\w*|provid(?:e|es|ed|ing)|partners?|"
                     r"collect\w*|receiv\w*|stor(?:e|es|ed|ing)|log(?:s|ged|ging)?|obtain\w*)\b",
                     re.I)
LINK = re.compile(r"\]\(|!\[|<[a-z/!]|[{}]|https?://\S+$")
LEADING = re.compile(r"(?:\s*(?:#{1,6}|>|[-*+•·●▪]|\d{1,3}[.)]|\(?[a-z]\))\s+|\*\*|_|\s*:\s)+")
WORD = re.compile(r"[a-z0-9']+")


def norm(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


def service_key(path: str) -> str:
    return re.sub(r"[^a-z0-9]", "", path.split("/")[0].lower())


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.split("/")[0].lower()).strip("-")


def used_services(skip: tuple[str, ...] = (), own: str = "") -> tuple[set[str], set[tuple[str, str]]]:
    """Normalised service names, and (repo, path) pairs, of every policy already labelled: the
    policy tables of every SOURCES.md section (both row forms: `| part | `policy` | repo | `path`
    ...` and real-audit-c's `| policy | path | commit | n |`) and every audit pool file
    (bench/data/labels/real-audit-*-pool.json, whose policies were all run and drawn from).
    skip: sections (by their "## " line's start) left out, to redraw an older set as it was made
    (real-audit-b and real-audit-c pass LATER_SECTIONS and no pool files); own: the pool file
    of the set being drawn, left out."""
    names, files = set(), set()
    row = re.compile(r"^\|(.+?)\|\s*`([^`]+)`\s*\|\s*([\w.-]+/[\w.-]+)\s*\|\s*`([^`]+)`")
    short_row = re.compile(r"^\|\s*([a-z0-9-]+)\s*\|\s*([^|`]+/Privacy Policy\.md)\s*\|\s*[0-9a-f]{7,40}\s*\|")
    for source in SOURCES:
        section = ""
        for line in source.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                section = line
            if skip and section.startswith(skip):
                continue
            match = row.match(line)
            if match:
                service, policy, repo, path = match.groups()
                files.add((repo, path))
                names.add(service_key(path))
                names.add(re.sub(r"[^a-z0-9]", "", policy.lower()))
                names.add(re.sub(r"[^a-z0-9]", "", service.split("(")[0].lower()))
                continue
            match = short_row.match(line)
            if match:  # real-audit-c's table: the repo is the section's (tosback-versions)
                policy, path = match.groups()
                names.add(service_key(path.strip()))
                names.add(re.sub(r"[^a-z0-9]", "", policy))
    if not skip:
        for pool_file in sorted(LABELS.glob("real-audit-*-pool.json")):
            if pool_file.name == own:
                continue
            for policy in json.loads(pool_file.read_text(encoding="utf-8"))["policies"]:
                files.add((policy["source"], policy["path"]))
                names.add(service_key(policy["path"]))
                names.add(re.sub(r"[^a-z0-9]", "", policy["policy"]))
    return {n for n in names if n}, files


def archive_files(mirrors: Path) -> dict[str, list[tuple[str, str, str]]]:
    """{archive: [(path, commit, date)]} of the privacy policies, latest version each."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for archive in ALL_ARCHIVES:
        try:
            directory = git_dir(archive, mirrors)
        except ArchiveError:
            continue
        if archive.startswith("TosbackCgusBridge"):
            log = _git(directory, "log", "--all", "--format=C %H %cs", "--name-only",
                       "--diff-filter=AM", "--", f"*/{FILE_NAME}").decode("utf-8", "replace")
            latest: dict[str, tuple[str, str]] = {}
            commit = date = ""
            for line in log.splitlines():
                if line.startswith("C "):
                    _, commit, date = line.split()
                elif line.strip() and (line not in latest or latest[line][1] < date):
                    latest[line] = (commit, date)
            found[archive] = sorted((p, c, d) for p, (c, d) in latest.items())
        else:
            names = _git(directory, "ls-tree", "-r", "--name-only", "HEAD").decode().splitlines()
            found[archive] = [(p, "HEAD", "") for p in names if p.endswith("/" + FILE_NAME)
                              and p.count("/") == 1]
    return found


def resolve(directory: Path, commit: str, path: str) -> tuple[str, str]:
    if commit != "HEAD":
        return commit, _git(directory, "show", "-s", "--format=%cs", commit).decode().strip()
    out = _git(directory, "log", "-1", "--format=%H %cs", "HEAD", "--", path).decode().split()
    return out[0], out[1]


def english(text: str) -> bool:
    words = WORD.findall(text.lower()[:20000])
    return len(words) > 300 and sum(w in STOP for w in words) / len(words) >= 0.22


def pool(mirrors: Path) -> tuple[list[dict], dict]:
    """The eligible policies (sorted by service key) and every archive's file list."""
    names, used_files = used_services(LATER_SECTIONS)
    files = archive_files(mirrors)
    chosen: dict[str, dict] = {}
    for archive in ARCHIVES:  # order: vlopses-us, tosback, CGUs (first wins)
        directory = git_dir(archive, mirrors)
        for path, commit, _ in files.get(archive, []):
            key = service_key(path)
            if key in chosen or not key or (archive, path) in used_files or key in names:
                continue
            if HELD_BACK.search(key) or ADULT.search(key):
                continue
            commit, date = resolve(directory, commit, path)
            try:
                text = archived_text(directory, commit, path)
            except (ArchiveError, UnicodeDecodeError):
                continue
            if len(text) < 4000 or not english(text):
                continue
            chosen[key] = {"key": key, "policy": slug(path), "source": archive, "path": path,
                           "commit": commit, "date": date}
    return [chosen[k] for k in sorted(chosen)], files


def frozen(policy: str) -> bool:
    return zlib.crc32(policy.encode("utf-8")) % 3 == 0


def choose(eligible: list[dict], usable=lambda policy: True) -> list[dict]:
    """The first N_POLICIES of the seeded shuffle for which usable(policy) holds, with parts."""
    order = list(eligible)
    random.Random(SEED).shuffle(order)
    picked = []
    for policy in order:
        if len(picked) == N_POLICIES:
            break
        if usable(policy):
            picked.append(policy)
    rest = sorted(p["policy"] for p in picked if not frozen(p["policy"]))
    wanted = max(0, len(picked) // 2 - (len(picked) - len(rest)))
    to_b = set(random.Random(SEED + ":split").sample(rest, wanted))
    for p in picked:
        p["part"] = "B" if frozen(p["policy"]) or p["policy"] in to_b else "A"
    return sorted(picked, key=lambda p: (p["part"], p["policy"]))


def pieces(text: str) -> list[tuple[int, int]]:
    """(start, end) of the labelable pieces of a policy, in order."""
    out, seen = [], set()
    for start, end in split_sentences(text):
        offset = start
        for line in text[start:end].split("\n"):
            s, e = offset, offset + len(line)
            offset = e + 1
            lead = LEADING.match(text, s, e)
            if lead:
                s = lead.end()
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if text[e - 2:e] == "**":
                e -= 2
            piece = text[s:e]
            if not 25 <= len(piece) <= 450 or piece.endswith(":") or LINK.search(piece):
                continue
            if piece.count("|") >= 2 or sum(c.isalpha() for c in piece) < 0.6 * len(piece):
                continue
            words = WORD.findall(piece.lower())
            if not ENGLISH_WORDS.intersection(words) or \
                    sum(ord(c) > 127 and c.isalpha() for c in piece) > 1:
                continue  # not English (multi-language files)
            key = norm(piece)
            if key in seen:
                continue
            seen.add(key)
            out.append((s, e))
    return out


def hard_wrapped(text: str) -> bool:
    """Text wrapped at a fixed width (most long lines end mid-sentence): its lines are not
    sentences, and our splitter reads them as fragments."""
    lines = [line.rstrip() for line in text.split("\n") if len(line.strip()) >= 40]
    return bool(lines) and sum(line[-1] not in ".:;!?)\"*" for line in lines) > 0.5 * len(lines)


def shingles(text: str) -> set[tuple[str, ...]]:
    words = norm(text).split()
    return {tuple(words[i:i + 5]) for i in range(len(words) - 4)}


def reference_sentences(mirrors: Path, files: dict, used_files: set, chosen_paths: set) -> tuple[
        set[str], set[tuple[str, ...]]]:
    """Normalised sentences and word 5-grams of the held-back services' privacy policies in any
    mirrored archive and of every policy already used (real-dev, real-extra-*)."""
    exact, grams = set(), set()
    for archive, listing in files.items():
        directory = git_dir(archive, mirrors)
        for path, commit, _ in listing:
            key = service_key(path)
            if (archive, path) in chosen_paths:
                continue
            if not (HELD_BACK.search(key) or (archive, path) in used_files):
                continue
            try:
                text = archived_text(directory, resolve(directory, commit, path)[0], path)
            except (ArchiveError, UnicodeDecodeError):
                continue
            for start, end in split_sentences(text):
                for line in text[start:end].split("\n"):
                    if len(line.split()) >= 4:
                        exact.add(norm(line))
                        grams |= shingles(line)
    return exact, grams


def near_verbatim(piece: str, exact: set, grams: set) -> bool:
    if norm(piece) in exact:
        return True
    mine = shingles(piece)
    return len(norm(piece).split()) >= 12 and bool(mine) and \
        sum(g in grams for g in mine) >= 0.6 * len(mine)


def sample(mirrors: Path, out: Path, reading: Path) -> None:
    eligible, files = pool(mirrors)
    _, used_files = used_services(LATER_SECTIONS)
    exact, grams = reference_sentences(mirrors, files, used_files,
                                       {(p["source"], p["path"]) for p in eligible})
    texts, kept, dropped = {}, {}, {}

    def usable(policy: dict) -> bool:
        """At least MIN_PIECES pieces left once repeats of held-back or used policies are out
        and more kept than dropped (a policy that is another's template, e.g. CBS Interactive's or
        Microsoft's, has few left), in a text that is not hard-wrapped."""
        directory = git_dir(policy["source"], mirrors)
        text = archived_text(directory, policy["commit"], policy["path"])
        texts[policy["policy"]] = text
        if hard_wrapped(text):
            return False
        mine = pieces(text)
        kept[policy["policy"]] = [(s, e) for s, e in mine
                                  if not near_verbatim(text[s:e], exact, grams)]
        dropped[policy["policy"]] = len(mine) - len(kept[policy["policy"]])
        return len(kept[policy["policy"]]) >= max(MIN_PIECES, dropped[policy["policy"]])

    picked = choose(eligible, usable)
    records = []
    for policy in picked:
        text = texts[policy["policy"]]
        paths = heading_paths(text)
        rng = random.Random(int(sha256(f"{SEED}:{policy['policy']}"), 16))
        order = list(kept[policy["policy"]])
        rng.shuffle(order)
        chosen = [(s, e, "random") for s, e in order[:RANDOM_PER_POLICY]]
        keyword = [(s, e) for s, e in order[RANDOM_PER_POLICY:] if KEYWORD.search(text[s:e])]
        chosen += [(s, e, "keyword") for s, e in keyword[:KEYWORD_PER_POLICY]]
        policy["records"] = len(chosen)
        for s, e, how in sorted(chosen):
            records.append({"source": policy["source"], "path": policy["path"],
                            "commit": policy["commit"], "policy": policy["policy"], "start": s,
                            "end": e, "sha256": sha256(text[s:e]),
                            "heading": heading_at(paths, s), "lang": "en", "sampled": how,
                            "part": policy["part"], "text": text[s:e],
                            "before": text[max(0, s - 300):s].rstrip().rsplit("\n", 1)[-1]})
    with open(out, "w", encoding="utf-8") as labels, open(reading, "w", encoding="utf-8") as read:
        for number, record in enumerate(records, 1):
            record = {"id": f"{SET}-{number}", **record}
            read.write(json.dumps(record, ensure_ascii=False) + "\n")
            for key in ("text", "before"):
                record.pop(key)
            record["labels"] = dict.fromkeys(
                ("collection", "third_party_sharing", "sale", "behavioral_ads", "children"))
            labels.write(json.dumps(record, ensure_ascii=False) + "\n")
    skipped = [p for p in kept if p not in {q["policy"] for q in picked}]
    print(f"{len(eligible)} eligible, {len(picked)} chosen, {len(records)} records; skipped "
          f"(template or hard-wrapped): {', '.join(skipped) or 'none'}; pieces dropped as "
          f"repeats of held-back or used policies: {sum(dropped.values())}")
    for p in picked:
        print(f"{p['part']} {p['policy']:28} {p['source']:38} {p['path']:45} {p['commit'][:12]} "
              f"{p['date']} {p['records']} (dropped {dropped[p['policy']]})")


def score(part: str, texts: Path, errors: bool) -> None:
    from scanner.evaluate import evaluate
    from scanner.matching import load_rules
    rules = load_rules()
    records = [json.loads(line) for line in texts.open(encoding="utf-8") if line.strip()]
    parts = {r["policy"]: r.get("part") for r in
             map(json.loads, (LABELS / f"{SET}.jsonl").open(encoding="utf-8"))}
    chosen = [r for r in records if parts.get(r["policy"]) == part]
    sampled = {json.loads(line)["id"]: json.loads(line)["sampled"]
               for line in (LABELS / f"{SET}.jsonl").open(encoding="utf-8")}
    for how in ("random", "keyword", "all"):
        subset = [r for r in chosen if how == "all" or sampled[r["id"]] == how]
        practice = evaluate(subset, rules, mode="practice", lang="en")
        topic = evaluate(subset, rules, mode="topic", lang="en")
        line = []
        for category in ("third_party_sharing", "collection"):
            p, t = practice.scores[category], topic.scores[category]
            line.append(f"{category} practice {p.f1:.3f} (P {p.precision:.3f} R {p.recall:.3f}, "
                        f"tp {p.tp} fp {p.fp} fn {p.fn}) topic {t.f1:.3f}")
        others = ", ".join(f"{c} {practice.scores[c].f1:.3f}" for c in ("sale", "behavioral_ads"))
        print(f"{part} {how} ({len(subset)} records, {len({r['policy'] for r in subset})} "
              f"policies): " + "; ".join(line) + f"; {others}; children topic "
              f"{topic.scores['children'].f1:.3f}")
    if errors and part == "A":
        from scanner.evaluate import judged_texts, predicted_categories
        from scanner.matching import classify
        for record, text in zip(chosen, judged_texts(chosen), strict=True):
            found = classify(text, rules, lang="en", section=record.get("heading") or "")
            got = predicted_categories(found, "practice")
            for category in ("third_party_sharing", "collection"):
                want = record["labels"].get(category)
                if want is None or want == (category in got):
                    continue
                kind = "FN" if want else "FP"
                rules_hit = [f.rule_id for f in found if f.category == category]
                print(f"{kind} {category} {record['id']} {rules_hit}: {' '.join(text.split())[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("pool", "sample", "score"))
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    parser.add_argument("--out", type=Path, default=LABELS / f"{SET}.jsonl")
    parser.add_argument("--reading", type=Path, default=Path("/tmp") / f"{SET}-reading.jsonl")
    parser.add_argument("--part", choices=("A", "B"), default="B")
    parser.add_argument("--texts", type=Path, default=ROOT / "bench" / ".texts" / f"{SET}.jsonl")
    parser.add_argument("--errors", action="store_true", help="print A's errors (never B's)")
    args = parser.parse_args()
    if args.command == "pool":
        eligible, _ = pool(args.mirrors)
        picked = {p["policy"]: p["part"] for p in choose(eligible)}
        for p in eligible:
            print(f"{picked.get(p['policy'], '-')} {p['policy']:30} {p['source']:38} {p['path']}")
        print(f"{len(eligible)} eligible, {len(picked)} chosen")
    elif args.command == "sample":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        sample(args.mirrors, args.out, args.reading)
    else:
        score(args.part, args.texts, args.errors)


if __name__ == "__main__":
    main()
