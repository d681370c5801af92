"""Choose the clauses of the th-extra-c (or, with --set th-extra-d, th-extra-d) labelled set (issue
14): Thai notices not used before.

Prints one JSON line per chosen clause (policy, source, path, commit, extract, start, end,
sha256, sampled, and the clause text for the labeller's eyes only); the labels are added by hand
and only labels, offsets and hashes go into bench/data/labels/th-extra-c.jsonl
(bench/data/labels/SOURCES.md, "th-extra-c", says how the notices were found).

How a notice's text is cut (as th-extra-b's): the file's text (the scanner's extractor on it, or
the raw file where the notice is string literals in code, cut first into text runs between code
delimiters) split by scanner.sentences.split_sentences(text, "th"); a span longer than 400
characters or holding newlines is cut at its lines. Kept: 15-400 characters with Thai letters,
not ending in ':', no code residue, no exact repeat within the notice, and none identical or
near-verbatim (spaces ignored, difflib ratio >= 0.8) to a clause of the earlier Thai sets
(../shared/eval/th-real-dev.jsonl and the materialised bench/.texts/th-extra*.jsonl) or to a
clause chosen for an earlier notice of this set. Then, per notice, one random.Random seeded with
sha256("th-extra-c-2026:<policy>"): up to 30 clauses, half keyword-sampled round-robin over the
strata below, the rest random.

  .venv/bin/python bench/eval_texts.py materialise      # the earlier sets, for the dedup
  .venv/bin/python bench/th_extra_c_select.py > /tmp/th-extra-c-candidates.jsonl
  .venv/bin/python bench/th_extra_c_select.py --set th-extra-d > /tmp/th-extra-d-candidates.jsonl

--set th-extra-d uses the same cutting, filters and strata with its own seed, sources and cap
(SETS below); its dedup also reads th-extra-c's materialised clauses. A source may name the
commit to read (a file deleted later in its repository); otherwise the newest that touched it.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.eval_texts import (MIRRORS, TEXTS_DIR, archived_text, git_dir,  # noqa: E402
                              latest_commit, sha256)
from scanner.sentences import split_sentences  # noqa: E402

SEED = "th-extra-c-2026"
PER_NOTICE = 30
# (policy, repository, path, extract[, commit]): extract=False reads the file as stored (string
# literals, plain text).
SOURCES = [
    ("oncb_kidguard", "pp584/kidguard", "application/views/template/front-end/policypage_view.php", True),
    ("sonchai_shop", "sonchai058/ecommerce", "application/modules/aboutus/views/front-end/privacy.php", True),
    ("prime_sneakers", "KittinanSecC/PHP", "policy.php", True),
    ("pengkie_app", "PENGKIE/pengkie_web", "web/functions/get_pdpa.js", True),
    ("next_link", "danya0365/next-link-nextjs", "app/privacy/page.tsx", True),
    ("learnsbuy", "kimkundad/learnsbuy.app", "src/screens/Policy.js", False),
    ("small_elephants", "kimkundad/elephant_main", "resources/views/frontend/pages/policy.blade.php", True),
    ("stray_pet_map", "danya0365/stray-pet-map-nextjs", "app/(main)/legal/privacy/page.tsx", True),
    ("easy_order", "danya0365/easy-order-nextjs", "app/(public)/privacy/page.tsx", False),
    ("ai_agent_academy", "danya0365/ai-agent-academy", "app/privacy/page.tsx", True),
    # batch 2, chosen and labelled after the rule work on batch 1: a fresh out-of-sample check
    ("goodlist_seller", "camdodge999/goodlist-frontend", "src/app/privacy/page.tsx", True),
    ("uplift_privacy", "9Aediter/uplift-web-frontend", "src/app/[lang]/legal/privacy/page.tsx", False),
    ("uplift_cookies", "9Aediter/uplift-web-frontend", "src/app/[lang]/legal/cookies/page.tsx", False),
]
# th-extra-d (session 8, H6): a fresh validation set, chosen and labelled before any rule edit.
SOURCES_D = [
    ("supernumber", "sakonlapakP/Supernumber", "resources/views/privacy.blade.php", True),
    ("nonfree_vpn", "testvpnkuy/samupro-vpn", "PrivacyPolicy.php", False),
    ("boss_vpn", "thaiprovpn/one", "privacy_app-bossvpn", False),
    ("boost_vpn", "skynet49/vpn", "privacy-boostvpn.php", False, "85fd6a6"),
    ("tfac_consent", "Phitchayut/upload_download", "frontend/components/more_info.php", True),
]
# set name -> (seed, sources, clauses per notice)
SETS = {"th-extra-c": (SEED, SOURCES, PER_NOTICE), "th-extra-d": ("th-extra-d-2026", SOURCES_D, 45)}
STRATA = [
    ("children", ("ผู้เยาว์", "อายุต่ำกว่า", "ผู้ปกครอง", "ผู้ใช้อำนาจปกครอง", "เด็ก", "บิดามารดา", "นักเรียน", "เยาวชน")),
    ("cookies_ads", ("คุกกี้", "โฆษณา", "การตลาด", "Google", "Analytics", "Facebook", "Pixel")),
    ("abroad", ("ต่างประเทศ", "โอนข้อมูล", "คลาวด์", "Cloud")),
    ("disclosure", ("เปิดเผย", "ส่งต่อ", "บุคคลภายนอก", "บุคคลที่สาม", "แบ่งปัน", "แชร์", "หน่วยงาน",
                    "ผู้ให้บริการ", "พันธมิตร")),
    ("collection", ("เก็บรวบรวม", "รวบรวม", "เก็บข้อมูล", "จัดเก็บ", "ได้รับข้อมูล", "มีการเก็บ")),
]
THAI = re.compile(r"[\u0e00-\u0e7f]")
CODE_RESIDUE = re.compile(r"=>|className|\bimport\b|\bconst\b|</?[a-zA-Z]|//|/\*|@(?:section|extends|if|endif)"
                          r"|\$\{|\{\{|[{}]")
RAW_RUN = re.compile(r"[^\"'`{}<>]+")


def runs(text: str, extract: bool) -> list[tuple[int, int]]:
    """Spans of text to split: the whole text, or (raw code) the runs between code delimiters."""
    if extract:
        return [(0, len(text))]
    return [(m.start(), m.end()) for m in RAW_RUN.finditer(text) if THAI.search(m.group())]


def clauses(text: str, extract: bool) -> list[tuple[int, int]]:
    spans = []
    for run_start, run_end in runs(text, extract):
        chunk = text[run_start:run_end]
        for start, end in split_sentences(chunk, "th"):
            piece = chunk[start:end]
            if len(piece) > 400 or "\n" in piece.strip():
                offset = start
                for line in piece.split("\n"):
                    stripped = line.strip()
                    if stripped:
                        first = offset + line.index(stripped)
                        spans.append((run_start + first, run_start + first + len(stripped)))
                    offset += len(line) + 1
            else:
                spans.append((run_start + start, run_start + end))
    return spans


def keep(piece: str) -> bool:
    return (15 <= len(piece) <= 400 and THAI.search(piece) is not None
            and not piece.rstrip().endswith(":") and not CODE_RESIDUE.search(piece.replace('{" "}', "")))


def squash(piece: str) -> str:
    return "".join(piece.split())


def earlier_clauses(name: str = "th-extra-c") -> list[str]:
    """Clauses of the earlier Thai sets: th-real-dev and every materialised th-extra* set that
    comes before `name` (th-extra, -b, ... in name order)."""
    texts = []
    shared = ROOT.parent / "shared" / "eval" / "th-real-dev.jsonl"
    for path in [shared, *sorted(TEXTS_DIR.glob("th-extra*.jsonl"))]:
        if path.name != shared.name and path.stem.split(".")[0] >= name:
            continue
        with open(path, encoding="utf-8") as handle:
            texts.extend(squash(json.loads(line)["text"]) for line in handle if line.strip())
    return texts


def near(piece: str, others: list[str]) -> bool:
    for other in others:
        if piece == other:
            return True
        if abs(len(piece) - len(other)) <= 0.25 * max(len(piece), len(other)):
            matcher = difflib.SequenceMatcher(None, piece, other, autojunk=False)
            if matcher.real_quick_ratio() >= 0.8 and matcher.quick_ratio() >= 0.8 and matcher.ratio() >= 0.8:
                return True
    return False


def stratum(piece: str) -> str | None:
    for name, words in STRATA:
        if any(word in piece for word in words):
            return name
    return None


def choose(policy: str, spans: list[tuple[int, int, str]], seed: str = SEED,
           per_notice: int = PER_NOTICE) -> list[tuple[int, int, str, str]]:
    rng = random.Random(int(hashlib.sha256(f"{seed}:{policy}".encode()).hexdigest(), 16))
    order = list(spans)
    rng.shuffle(order)
    by_stratum: dict[str, list] = {name: [] for name, _ in STRATA}
    for span in order:
        name = stratum(span[2])
        if name:
            by_stratum[name].append(span)
    chosen: list[tuple[int, int, str, str]] = []
    taken = set()
    while len(chosen) < per_notice // 2 and any(by_stratum.values()):
        for name, _ in STRATA:
            if by_stratum[name] and len(chosen) < per_notice // 2:
                span = by_stratum[name].pop(0)
                if span[:2] not in taken:
                    taken.add(span[:2])
                    chosen.append((*span, "keyword"))
    for span in order:
        if len(chosen) >= per_notice:
            break
        if span[:2] not in taken:
            taken.add(span[:2])
            chosen.append((*span, "random"))
    return sorted(chosen)


def _full_commit(directory: Path, commit: str) -> str:
    return subprocess.run(["git", "--git-dir", str(directory), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                          capture_output=True, check=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="th-extra-c", choices=sorted(SETS), help="which set to choose")
    args = parser.parse_args(argv)
    seed, sources, per_notice = SETS[args.set]
    seen = earlier_clauses(args.set)
    dropped = 0
    for policy, source, path, extract, *pinned in sources:
        directory = git_dir(source, MIRRORS)
        commit = (_full_commit(directory, pinned[0]) if pinned else latest_commit(directory, path))
        text = archived_text(directory, commit, path, extract)
        spans, own = [], set()
        for start, end in clauses(text, extract):
            piece = text[start:end]
            squashed = squash(piece)
            if not keep(piece) or squashed in own:
                continue
            own.add(squashed)
            if near(squashed, seen):
                dropped += 1
                continue
            spans.append((start, end, piece))
        chosen = choose(policy, spans, seed, per_notice)
        seen.extend(squash(piece) for _, _, piece, _ in chosen)
        print(f"{policy}: {len(spans)} candidates, {len(chosen)} chosen", file=sys.stderr)
        for start, end, piece, sampled in chosen:
            print(json.dumps({"policy": policy, "source": source, "path": path, "commit": commit,
                              "extract": extract, "start": start, "end": end, "sha256": sha256(piece),
                              "sampled": sampled, "text": piece}, ensure_ascii=False))
    print(f"dropped as near-verbatim to an earlier clause: {dropped}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
