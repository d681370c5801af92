"""Sale and behavioural-ads findings audited on many unseen policies (issue 14, session 6).

The pool: the latest English privacy policy of each service in Open Terms Archive's
contrib-versions, pga-versions and genai-eu-versions mirrors, without the services held back in
issue 14, those of ../shared/eval/real-dev-SOURCES.md and bench/data/labels/SOURCES.md, and the
services that share their policy text (Google's products, Microsoft's, Meta's, Amazon's). Split
by service, seeded, into A (read to tune) and B (validation: only counts and scores are read).

  pool     list the pool and its split (bench/data/labels/real-audit-a-pool.json: no text)
  sample   run the policy rules over every pool policy and write the sentences to label
           (--out, outside the repository: third-party text): every sale risk finding, a seeded
           sample of sale-keyword sentences without one, ads risk findings up to a cap per split,
           a seeded sample of ads-keyword sentences without one
  score    run the current rules again and score the labelled sentences of one split: precision
           of the findings and recall, each also weighted by the inverse of the sampling rate of
           its stratum (findings, keyword sentences), so that the figures estimate the frame
           (every sentence with a finding or a keyword)

Pool C (`--pool c`, set real-audit-c, round 2 of the sale audit): a fresh validation pool of the
latest English `<Service>/Privacy Policy.md` of ToS;DR's tosback-versions (HEAD), without the
services held back in issue 14 (both lists: this module's and bench/audit_pool.py's), adult
sites, every service already used (real-dev-SOURCES.md, bench/data/labels/SOURCES.md,
real-audit-a-pool.json, this module's USED) and the 32 policies of helper H5's real-audit-b;
identical texts once. One split, "C". Sampled for sale only: every sale risk finding up to
C_FINDING_CAP (seeded) and C_KEYWORD_SAMPLE sale-keyword sentences without one (seeded).

Run:  .venv/bin/python bench/sale_ads_audit.py pool
      .venv/bin/python bench/sale_ads_audit.py sample --out /tmp/audit-candidates.jsonl
      .venv/bin/python bench/sale_ads_audit.py score --split B
      .venv/bin/python bench/sale_ads_audit.py --pool c pool|sample --out F|score --split C
      .venv/bin/python bench/sale_ads_audit.py --pool h sample --out F --share ../notes/pools8.json
      .venv/bin/python bench/sale_ads_audit.py --pool h score --split A|B
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audit_pool import frozen as is_frozen  # noqa: E402  (bench/accuracy.py's is_frozen)
from bench.eval_texts import (  # noqa: E402
    MIRRORS, ArchiveError, archived_text, git_dir, heading_at, heading_paths, latest_commit, sha256)
from scanner.engine import _trimmed  # noqa: E402
from scanner.language import detect_lang  # noqa: E402
from scanner.matching import classify, load_rules  # noqa: E402
from scanner.sentences import split_sentences  # noqa: E402

SEED = "real-audit-a-2026"
SOURCES = ("OpenTermsArchive/contrib-versions", "OpenTermsArchive/pga-versions",
           "OpenTermsArchive/genai-eu-versions")
LABELS_DIR = ROOT / "bench" / "data" / "labels"
POOL_FILE = LABELS_DIR / "real-audit-a-pool.json"
LABELS_FILE = LABELS_DIR / "real-audit-a.jsonl"
CATEGORIES = ("collection", "third_party_sharing", "sale", "behavioral_ads", "children")

# Held back in issue 14 (never read, labelled or tuned on), as the archives name them.
HELD_BACK = {
    "youtube kids", "khan academy", "tiktok", "epic games", "kahoot!", "brick hill", "habbo",
    "flipgrid", "pear deck", "goguardian", "fisher-price", "mattel", "snapchat", "discord",
    "hoyoverse", "genshin impact", "honkai- star rail", "classlink", "roblox", "classdojo",
    "coolmath4kids", "vocabularyspellingcity", "shockwave", "shockwave.com", "disney",
    "national geographic", "instagram", "twitch", "spotify", "netflix", "pinterest", "reddit",
    "zoom", "we heart it", "blizzard", "blizzard entertainment", "tumblr", "grammarly",
    "wargaming", "kongregate", "mcgraw hill", "turnitin", "askfm", "mcdonald's",
    "wizards of the coast", "matichon", "triam udom",
    # Meta's shared text (Instagram is held back; real-dev left Facebook out for this reason)
    "facebook", "threads", "crowdtangle",
    # a Roblox company
    "guilded",
}
# Services of real-dev-SOURCES.md and bench/data/labels/SOURCES.md, and services whose archived
# policy is the same company text as one of them.
USED = {
    # real-dev
    "youtube", "w3schools", "whatsapp", "microsoft", "steam", "apple", "amazon.com", "line",
    "wechat", "crunchyroll", "deviantart", "x", "twitter", "kick", "palia", "proctorio",
    "bluesky", "bereal", "pixiv", "fandom", "ign entertainment", "dailymotion",
    "urbandictionary.com", "disqus", "last.fm", "temu", "shein",
    # bench/data/labels
    "goodreads", "imgur", "bbc", "coursera", "chatgpt", "deepseek", "flickr", "quora",
    "stack overflow", "telegram", "viber", "vimeo", "wikipedia", "wordfeud", "allrecipes",
    "daily mail", "forbes", "fox news", "ironsource", "linkedin", "github", "wolframalpha",
    # the same text as a used policy: Google's (real-dev youtube), Microsoft's, Amazon's,
    # Wikimedia's, Wolfram's, Tencent's (WeChat)
    "google", "gmail", "chrome and chrome os", "google ads", "google analytics", "google nest",
    "google pay", "google voice", "reserve with google", "stadia", "adsense", "blogger",
    "google generative ai services", "microsoft store", "microsoft copilot", "skype", "bing",
    "msn", "amazon advertising", "amazon publisher", "amazon web services", "imdb",
    "wikimedia foundation", "wolfram", "tencent",
}
SALE_KEYWORD = re.compile(
    r"\b(?:sell|sells|selling|sold|sale|sales)\b|[“\"‘']shar(?:e|es|ed|ing)[”\"’']|"
    r"\bcross[- ]context\b|\bbrokers?\b", re.I)
ADS_KEYWORD = re.compile(
    r"advertis|\binterest[- ]based\b|\bpersonali[sz]ed\b|\btargeted\b|\bretarget|"
    r"\bcross[- ]context\b", re.I)
# Found after the first draw, listed here rather than in HELD_BACK / USED so that the split and
# the draw stay as they were made; their sentences are dropped from the drawn sample and from the
# frames the weights are computed on: the Llama API file is Meta's privacy policy, whose text
# Instagram's (held back) shares; the others are policies of real-extra-d and real-extra-e
# (bench/data/labels/SOURCES.md) missed when USED was written.
DROPPED_AFTER_DRAW = {"llama-api", "claude-ai", "jacksfilms", "le-chat", "lingualeo", "miro",
                      "overleaf", "paradox-interactive", "perplexity", "signal", "vinted"}
# Services of one company, whose policies share text: one group goes to one side of the split.
GROUPS = {"proton-mail": "proton", "protonmail": "proton", "protonvpn": "proton",
          "bolt": "bolt", "bolt-drivers": "bolt", "firefox": "mozilla", "mozilla": "mozilla",
          "firefox-private-network": "mozilla", "thunderbird": "mozilla", "mdn-plus": "mozilla",
          "hearst-com": "hearst", "womans-day": "hearst", "match": "match-group",
          "tinder": "match-group", "okcupid": "match-group", "verizon": "verizon",
          "visible": "verizon", "graphcms": "hygraph", "hygraph": "hygraph",
          "wordpress-com": "wordpress", "wordpress-org": "wordpress"}
KEYWORDS = {"sale": SALE_KEYWORD, "behavioral_ads": ADS_KEYWORD}
# Sentences read for labelling: longer ones are table dumps or whole paragraphs of lists.
MIN_CHARS, MAX_CHARS = 25, 900
# Per split: keyword sentences without a finding sampled, and ads findings taken at most.
KEYWORD_SAMPLE = {"sale": 70, "behavioral_ads": 70}
FINDING_CAP = {"sale": 10_000, "behavioral_ads": 110}
# Pool C (round 2): its own seed, archive, files and caps.
C_SEED = "real-audit-c-2026"
C_SOURCE = "tosdr/tosback-versions"
C_POOL_FILE = LABELS_DIR / "real-audit-c-pool.json"
C_LABELS_FILE = LABELS_DIR / "real-audit-c.jsonl"
C_FINDING_CAP, C_KEYWORD_SAMPLE = 120, 60
# Left out of pool C by hand after listing it (before any sentence was read): the same company's
# policy as one already used (names differ), adult sites, a placeholder.
C_EXCLUDED = {
    "academia": "Academia.edu (real-audit-a)", "alibaba": "Alibaba.com (real-audit-a)",
    "ft": "Financial Times (real-audit-a)", "health": "Meredith, as People (real-audit-b)",
    "mailgun": "Sinch, as Mailjet (real-audit-a)", "dell-support": "Dell (real-audit-b)",
    "live": "Microsoft's statement", "plus": "Google's policy", "finance": "Verizon Media",
    "bbc-uk": "BBC (real-extra)", "ikea-usa": "IKEA (real-audit-a)", "steampowered": "Steam",
    "firefox-accounts": "Mozilla (real-audit-a)", "caranddriver": "Hearst (real-audit-a)",
    "cosmopolitan": "Hearst (real-audit-a)", "thumbzilla": "adult", "mindkink": "adult",
    "spam-to-be-deleted": "placeholder"}
# Pool D (round 3, session 7): its own seed, archives, files and sample sizes. The archives hold
# the English privacy policies not yet drawn from: Open Terms Archive's vlopses-us-versions and
# p2b-compliance-versions and ToS;DR's tosback2 import (CGUs-versions, files on its branches);
# tosback-versions' services are all in pool C or used. dating-versions is left out (dating sites).
D_SEED = "real-audit-d-2026"
D_SOURCES = ("OpenTermsArchive/vlopses-us-versions", "tosdr/tosback-versions",
             "TosbackCgusBridge-Bot/CGUs-versions", "OpenTermsArchive/p2b-compliance-versions")
D_POOL_FILE = LABELS_DIR / "real-audit-d-pool.json"
D_LABELS_FILE = LABELS_DIR / "real-audit-d.jsonl"
# per part (A, B): sale risk findings taken at most, and keyword sentences without one
D_FINDING_CAP, D_KEYWORD_SAMPLE = 80, 35
# sell/sold/sale, "valuable consideration", broker(s) (the brief of round 3)
D_KEYWORD = re.compile(
    r"\b(?:sell|sells|selling|sold|sale|sales)\b|\bvaluable\s+consideration\b|\bbrokers?\b", re.I)
# Round 4 (session 8, set real-audit-h): one helper's share of pool D's policies not yet read
# (real-audit-d-pool.json's entries, commits as recorded there), given as a JSON list; the share's
# is_frozen policies are left out unread, the rest split by policy (D_GROUPS on one side), B
# (validation, scores only) two thirds, A (read to tune) the rest.
H_SEED = "real-audit-h-2026"
H_POOL_FILE = LABELS_DIR / "real-audit-h-pool.json"
H_LABELS_FILE = LABELS_DIR / "real-audit-h.jsonl"
H_FINDING_CAP, H_KEYWORD_SAMPLE, H_B_SHARE = 80, 100, 2 / 3
# Left out of pool D by hand after listing it, before any sentence was read: the same company's
# policy as one already used under another name, or not a service's own policy.
D_EXCLUDED = {
    "instagr": "Instagram (held back)", "kongrenate": "Kongregate (held back)", "tube8": "adult",
    "pof": "dating", "backpage": "adult classifieds", "mail": "Google's policy",
    "google-maps": "Google's policy", "google-play": "Google's policy",
    "google-shopping": "Google's policy", "android": "Google's policy", "nest": "Google Nest",
    "app-store": "Apple (real-dev)", "endless": "Amazon's notice", "uk": "Yahoo's policy",
    "allrecipies": "Allrecipes (real-extra)", "wikia": "Fandom (real-dev)",
    "stack-exchange": "Stack Overflow (real-extra)", "getpocket": "Mozilla (real-audit-a)",
    "epicurious": "Conde Nast, as Ars Technica (real-audit-c)", "elledecor": "Hearst (real-audit-a)",
    "esquire": "Hearst (real-audit-a)", "goodhousekeeping": "Hearst (real-audit-a)",
    "roadandtrack": "Hearst (real-audit-a)", "bhg": "Meredith, as Health (real-audit-b)",
    "marthastewart": "Meredith (real-audit-b)", "oath": "Verizon Media (real-audit-a)",
    "verizonwireless": "Verizon (real-audit-a)", "huffingtonpost": "Verizon Media (real-audit-a)",
    "aol": "Verizon Media (real-audit-a)", "sbnation": "Vox Media, as The Verge (real-audit-c)",
    "medicinenet": "WebMD (real-audit-c)", "rxlist": "WebMD (real-audit-c)",
    "weather": "The Weather Company (real-audit-c)", "wunderground": "The Weather Company",
    "intellicast": "The Weather Company", "pcmag": "Ziff Davis, as Speedtest (real-audit-c)",
    "newegg": "Newegg.com (real-audit-c)", "reputation": "Reputation.com (real-audit-c)",
    "bostonglobe": "Boston.com (real-audit-c)"}
# Services of one company in pool D (shared policy text): one group goes to one side of the split.
D_GROUPS = {name: group for group, names in {
    "nbcu": ("nbc", "nbcsports", "msnbc", "bravotv", "golfchannel", "mun2", "cnbc", "eonline"),
    "viacom": ("mtv", "vh1", "comedycentral", "nickjr"), "adobe": ("adobe", "acrobat"),
    "comcast": ("comcast", "comcastwebservices", "xfinitywebservices"),
    "careerbuilder": ("careerbuilder", "careerrookie"), "experian": ("experian", "freecreditscore"),
    "answers": ("answers", "wiki", "wikianswers"), "cbs": ("cbssports", "cnet"),
    "sears": ("sears", "kmart"), "readwrite": ("readwrite", "readwriteweb"),
    "gratipay": ("gittip", "gratipay"), "abercrombie": ("abercrombie-fitch", "hollisterco"),
    "footlocker": ("champssports", "eastbay", "finishline"), "staples": ("staples",),
    "nypost": ("nypost", "wsj", "marketwatch"), "amazon": ("6pm", "zappos"),
    "gm": ("gm", "buick"), "hsn": ("hsn", "qvc")}.items() for name in names}


def rng(*parts: str, seed: str = SEED) -> random.Random:
    return random.Random(hashlib.sha256(":".join((seed, *parts)).encode()).hexdigest())


def slug(service: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", service.lower()).strip("-")


def normalised(sentence: str) -> str:
    return " ".join(re.findall(r"\w+", sentence.lower()))


def pool(mirrors: Path) -> dict:
    """The pool's policies and their split; sentences identical (normalised) to one of a
    held-back service's policy in the same archives are listed as held-back text."""
    policies, held_text = [], set()
    seen_text: dict[str, str] = {}
    for source in SOURCES:
        directory = git_dir(source, mirrors)
        listing = archived_listing(directory)
        for path in listing:
            service = path.split("/")[0]
            key = service.lower()
            if key in HELD_BACK:
                commit = latest_commit(directory, path)
                text = archived_text(directory, commit, path)
                held_text.update(normalised(text[s:e]) for s, e in split_sentences(text))
                continue
            if key in USED:
                continue
            commit = latest_commit(directory, path)
            text = archived_text(directory, commit, path)
            if detect_lang(text) != "en":
                continue
            digest = sha256(normalised(text))
            if digest in seen_text or slug(service) in seen_text.values():
                continue  # the same policy archived under two names or in two archives
            seen_text[digest] = slug(service)
            policies.append({"service": service, "policy": slug(service), "source": source,
                             "path": path, "commit": commit,
                             **({"dropped": True} if slug(service) in DROPPED_AFTER_DRAW else {})})
    order = sorted({GROUPS.get(p["policy"], p["policy"]) for p in policies})
    rng("split").shuffle(order)
    split = {name: ("A" if i < (len(order) + 1) // 2 else "B") for i, name in enumerate(order)}
    for policy in policies:
        policy["split"] = split[GROUPS.get(policy["policy"], policy["policy"])]
    policies.sort(key=lambda p: p["policy"])
    return {"seed": SEED, "sources": list(SOURCES), "policies": policies,
            "held_back_sentences": len(held_text), "_held_text": held_text}


def archived_listing(directory: Path) -> list[str]:
    from bench.eval_texts import _git
    names = _git(directory, "ls-tree", "-r", "--name-only", "HEAD").decode().splitlines()
    return sorted(n for n in names if n.endswith("/Privacy Policy.md") and n.count("/") == 1)


def policy_sentences(text: str, rules) -> list[dict]:
    """Every sentence of the policy (classify's own spans) with its sale and ads risk rules."""
    findings = classify(text, rules, lang="en")
    fired: dict[tuple, dict] = {}
    for finding in findings:
        if finding.polarity == "risk" and finding.category in KEYWORDS:
            fired.setdefault((finding.start, finding.end), {})[finding.category] = finding.rule_id
    spans = [_trimmed(text, s, e) for s, e in split_sentences(text, "en")]
    return [{"start": s, "end": e, "fired": fired.get((s, e), {})} for s, e in spans]


def sample(mirrors: Path, out: Path) -> None:
    data = pool(mirrors)
    held_text = data["_held_text"]
    rules = load_rules()
    frames: dict = {}  # (split, category, stratum) -> list of candidates
    for policy in data["policies"]:
        directory = git_dir(policy["source"], mirrors)
        text = archived_text(directory, policy["commit"], policy["path"])
        paths = heading_paths(text)
        for sentence in policy_sentences(text, rules):
            s, e = sentence["start"], sentence["end"]
            body = text[s:e]
            if normalised(body) in held_text:
                continue
            for category, keyword in KEYWORDS.items():
                found = category in sentence["fired"]
                if not found and not (keyword.search(body) and MIN_CHARS <= len(body) <= MAX_CHARS):
                    continue
                stratum = "finding" if found else "keyword"
                frames.setdefault((policy["split"], category, stratum), []).append({
                    "policy": policy["policy"], "source": policy["source"], "path": policy["path"],
                    "commit": policy["commit"], "start": s, "end": e, "sha256": sha256(body),
                    "heading": heading_at(paths, s), "text": body,
                    "rule": sentence["fired"].get(category)})
    chosen: dict[tuple, dict] = {}
    frame_sizes = {}
    for (split, category, stratum), items in sorted(frames.items()):
        limit = FINDING_CAP[category] if stratum == "finding" else KEYWORD_SAMPLE[category]
        picked = items if len(items) <= limit else rng(split, category, stratum).sample(items, limit)
        items = [i for i in items if i["policy"] not in DROPPED_AFTER_DRAW]
        picked = [i for i in picked if i["policy"] not in DROPPED_AFTER_DRAW]
        frame_sizes[f"{split} {category} {stratum}"] = (len(items), len(picked))
        for item in picked:
            key = (item["policy"], item["start"], item["end"])
            record = chosen.setdefault(key, {**item, "strata": []})
            record["strata"].append({"category": category, "sampled": stratum,
                                     "frame": len(items), "taken": len(picked)})
    with open(out, "w", encoding="utf-8") as handle:
        for record in sorted(chosen.values(), key=lambda r: (r["policy"], r["start"])):
            record["split"] = next(p["split"] for p in data["policies"]
                                   if p["policy"] == record["policy"])
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    for name, (frame, taken) in frame_sizes.items():
        print(f"{name}: frame {frame}, taken {taken}")
    print(f"{len(chosen)} sentences to label written to {out}")


def pool_c(mirrors: Path) -> dict:
    """Pool C: the tosback-versions policies not held back, not adult, not used anywhere and not
    in real-audit-b, English, one per text; held-back services' sentences as held-back text."""
    from bench import audit_pool
    from bench.eval_texts import _git
    directory = git_dir(C_SOURCE, mirrors)
    latest: dict[str, str] = {}
    commit = ""
    log = _git(directory, "log", "--format=C %H", "--name-only", "HEAD", "--",
               "*/Privacy Policy.md").decode("utf-8", "replace")
    for line in log.splitlines():
        if line.startswith("C "):
            commit = line[2:]
        elif line.strip():
            latest.setdefault(line, commit)
    listing = set(archived_listing(directory))
    names, _ = audit_pool.used_services(audit_pool.LATER_SECTIONS)
    key_of = audit_pool.service_key
    audit_a = json.loads(POOL_FILE.read_text(encoding="utf-8"))["policies"]
    names |= {key_of(p["path"]) for p in audit_a} | {re.sub(r"[^a-z0-9]", "", p["policy"])
                                                      for p in audit_a}
    names |= {re.sub(r"[^a-z0-9]", "", n) for n in USED | DROPPED_AFTER_DRAW}
    audit_b = LABELS_DIR / "real-audit-b.jsonl"
    names |= {re.sub(r"[^a-z0-9]", "", json.loads(line)["policy"])
              for line in audit_b.open(encoding="utf-8") if line.strip()}
    held = {re.sub(r"[^a-z0-9]", "", n) for n in HELD_BACK}
    policies, held_text, seen_text = [], set(), set()
    for path in sorted(listing):
        service = path.split("/")[0]
        key = key_of(path)
        if key in held or audit_pool.HELD_BACK.search(key):
            text = archived_text(directory, latest[path], path)
            held_text.update(normalised(text[s:e]) for s, e in split_sentences(text))
            continue
        if not key or key in names or audit_pool.ADULT.search(key) or \
                slug(service) in C_EXCLUDED:
            continue
        text = archived_text(directory, latest[path], path)
        if len(text) < 4000 or not audit_pool.english(text) or detect_lang(text) != "en":
            continue
        digest = sha256(normalised(text))
        if digest in seen_text:
            continue
        seen_text.add(digest)
        policies.append({"service": service, "policy": slug(service), "source": C_SOURCE,
                         "path": path, "commit": latest[path], "split": "C"})
    return {"seed": C_SEED, "sources": [C_SOURCE], "policies": policies,
            "held_back_sentences": len(held_text), "_held_text": held_text}


def sample_c(mirrors: Path, out: Path) -> None:
    """Pool C's sale sentences to label: every sale risk finding (at most C_FINDING_CAP, seeded)
    and a seeded sample of sale-keyword sentences without one."""
    data = pool_c(mirrors)
    held_text = data.pop("_held_text")
    C_POOL_FILE.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    rules = load_rules()
    frames: dict = {"finding": [], "keyword": []}
    for policy in data["policies"]:
        directory = git_dir(policy["source"], mirrors)
        text = archived_text(directory, policy["commit"], policy["path"])
        paths = heading_paths(text)
        for sentence in policy_sentences(text, rules):
            s, e = sentence["start"], sentence["end"]
            body = text[s:e]
            if normalised(body) in held_text:
                continue
            found = "sale" in sentence["fired"]
            if not found and not (SALE_KEYWORD.search(body) and MIN_CHARS <= len(body) <= MAX_CHARS):
                continue
            frames["finding" if found else "keyword"].append({
                "source": policy["source"], "path": policy["path"], "commit": policy["commit"],
                "policy": policy["policy"], "start": s, "end": e, "sha256": sha256(body),
                "heading": heading_at(paths, s), "text": body, "rule": sentence["fired"].get("sale")})
    records = []
    for stratum, limit in (("finding", C_FINDING_CAP), ("keyword", C_KEYWORD_SAMPLE)):
        items = frames[stratum]
        picked = items if len(items) <= limit else rng("C", "sale", stratum, seed=C_SEED).sample(
            items, limit)
        print(f"C sale {stratum}: frame {len(items)}, taken {len(picked)}")
        for item in picked:
            records.append({**item, "lang": "en", "sampled": stratum, "split": "C",
                            "strata": [{"category": "sale", "sampled": stratum,
                                        "frame": len(items), "taken": len(picked)}]})
    records.sort(key=lambda r: (r["policy"], r["start"]))
    with open(out, "w", encoding="utf-8") as handle:
        for number, record in enumerate(records, 1):
            handle.write(json.dumps({"id": f"real-audit-c-{number}", **record},
                                    ensure_ascii=False) + "\n")
    print(f"{len(data['policies'])} policies in pool C -> {C_POOL_FILE}; {len(records)} sentences "
          f"to label written to {out}")


def pool_d(mirrors: Path) -> dict:
    """Pool D: the English privacy policies of D_SOURCES whose service is not held back, not
    adult, not used by any set or drawn into any audit pool (bench/audit_pool.used_services, which
    reads every SOURCES.md section and every real-audit-*-pool.json but D's own), not in this
    module's USED, DROPPED_AFTER_DRAW, C_EXCLUDED or D_EXCLUDED, one per identical text; split by
    policy: B holds every policy bench/accuracy.py's `is_frozen` freezes and a seeded sample
    making B half, A the rest (a company's services, D_GROUPS, on one side). Held-back services' sentences are returned as held-back text."""
    from bench import audit_pool
    names, used_files = audit_pool.used_services(own=D_POOL_FILE.name)
    names |= {re.sub(r"[^a-z0-9]", "", n) for n in USED | DROPPED_AFTER_DRAW | set(C_EXCLUDED)}
    held = {re.sub(r"[^a-z0-9]", "", n) for n in HELD_BACK}
    files = audit_pool.archive_files(mirrors)
    extra = "OpenTermsArchive/p2b-compliance-versions"
    try:
        files[extra] = [(p, "HEAD", "") for p in archived_listing(git_dir(extra, mirrors))]
    except ArchiveError:
        files[extra] = []
    policies, held_text, seen_text, seen_keys = [], set(), set(), set()
    for source in D_SOURCES:
        directory = git_dir(source, mirrors)
        for path, commit, _ in files.get(source, []):
            if path.count("/") != 1:
                continue
            key = audit_pool.service_key(path)
            if key in held or audit_pool.HELD_BACK.search(key):
                commit, _ = audit_pool.resolve(directory, commit, path)
                try:
                    text = archived_text(directory, commit, path)
                except (ArchiveError, UnicodeDecodeError):
                    continue
                held_text.update(normalised(text[s:e]) for s, e in split_sentences(text))
                continue
            if not key or key in seen_keys or key in names or (source, path) in used_files or \
                    audit_pool.ADULT.search(key) or slug(path.split("/")[0]) in D_EXCLUDED:
                continue
            commit, date = audit_pool.resolve(directory, commit, path)
            try:
                text = archived_text(directory, commit, path)
            except (ArchiveError, UnicodeDecodeError):
                continue
            if len(text) < 4000 or not audit_pool.english(text) or detect_lang(text) != "en":
                continue
            digest = sha256(normalised(text))
            if digest in seen_text:
                continue
            seen_text.add(digest)
            seen_keys.add(key)
            service = path.split("/")[0]
            policies.append({"service": service, "policy": slug(service), "source": source,
                             "path": path, "commit": commit, "date": date})
    group = {p["policy"]: D_GROUPS.get(p["policy"], p["policy"]) for p in policies}
    frozen = {group[p["policy"]] for p in policies if is_frozen(p["policy"])}
    rest = sorted({g for g in group.values() if g not in frozen})
    wanted = max(0, len(set(group.values())) // 2 - len(frozen))
    to_b = frozen | set(rng("split", seed=D_SEED).sample(rest, min(wanted, len(rest))))
    for policy in policies:
        policy["split"] = "B" if group[policy["policy"]] in to_b else "A"
    policies.sort(key=lambda p: p["policy"])
    return {"seed": D_SEED, "sources": list(D_SOURCES), "policies": policies,
            "held_back_sentences": len(held_text), "_held_text": held_text}


def share_pool(share: list[str]) -> dict:
    """Pool H: the policies of `share` as real-audit-d-pool.json records them, without the
    is_frozen ones (left unread), split by policy with H_SEED: B (validation) H_B_SHARE of the
    groups, A the rest."""
    recorded = {p["policy"]: p for p in json.loads(D_POOL_FILE.read_text(encoding="utf-8"))[
        "policies"]}
    unknown = sorted(set(share) - set(recorded))
    if unknown:
        raise ArchiveError(f"not in {D_POOL_FILE.name}: {', '.join(unknown)}")
    frozen = sorted(name for name in share if is_frozen(name))
    policies = [dict(recorded[name]) for name in sorted(set(share) - set(frozen))]
    group = {p["policy"]: D_GROUPS.get(p["policy"], p["policy"]) for p in policies}
    order = sorted(set(group.values()))
    rng("split", seed=H_SEED).shuffle(order)
    to_b = set(order[:round(len(order) * H_B_SHARE)])
    for policy in policies:
        policy["split"] = "B" if group[policy["policy"]] in to_b else "A"
    return {"seed": H_SEED, "from": D_POOL_FILE.name, "share": sorted(share),
            "left_out_frozen": frozen, "policies": policies}


def sample_d(mirrors: Path, out: Path, share: list[str] | None = None) -> None:
    """Pool D's sale sentences to label, per part: every sale risk finding (at most
    D_FINDING_CAP, seeded) and D_KEYWORD_SAMPLE sentences naming sell/sold/sale, "valuable
    consideration" or broker(s) without one (25-900 characters, seeded). With `share` (pool H,
    real-audit-h): the share's unfrozen policies (share_pool), its seed, caps and files."""
    data = pool_d(mirrors)
    held_text = data.pop("_held_text")
    seed, prefix, pool_file = D_SEED, "real-audit-d", D_POOL_FILE
    finding_cap, keyword_sample = D_FINDING_CAP, D_KEYWORD_SAMPLE
    if share is not None:
        data = share_pool(share)
        seed, prefix, pool_file = H_SEED, "real-audit-h", H_POOL_FILE
        finding_cap, keyword_sample = H_FINDING_CAP, H_KEYWORD_SAMPLE
    pool_file.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    rules = load_rules()
    frames: dict = {}
    for policy in data["policies"]:
        directory = git_dir(policy["source"], mirrors)
        text = archived_text(directory, policy["commit"], policy["path"])
        paths = heading_paths(text)
        for sentence in policy_sentences(text, rules):
            s, e = sentence["start"], sentence["end"]
            body = text[s:e]
            if normalised(body) in held_text:
                continue
            found = "sale" in sentence["fired"]
            if not found and not (D_KEYWORD.search(body) and MIN_CHARS <= len(body) <= MAX_CHARS):
                continue
            frames.setdefault((policy["split"], "finding" if found else "keyword"), []).append({
                "source": policy["source"], "path": policy["path"], "commit": policy["commit"],
                "policy": policy["policy"], "start": s, "end": e, "sha256": sha256(body),
                "heading": heading_at(paths, s), "text": body, "rule": sentence["fired"].get("sale")})
    records = []
    for (split, stratum), items in sorted(frames.items()):
        limit = finding_cap if stratum == "finding" else keyword_sample
        picked = items if len(items) <= limit else rng(split, "sale", stratum, seed=seed).sample(
            items, limit)
        print(f"{split} sale {stratum}: frame {len(items)}, taken {len(picked)}")
        for item in picked:
            records.append({**item, "lang": "en", "sampled": stratum, "split": split,
                            "strata": [{"category": "sale", "sampled": stratum,
                                        "frame": len(items), "taken": len(picked)}]})
    records.sort(key=lambda r: (r["policy"], r["start"]))
    with open(out, "w", encoding="utf-8") as handle:
        for number, record in enumerate(records, 1):
            handle.write(json.dumps({"id": f"{prefix}-{number}", **record},
                                    ensure_ascii=False) + "\n")
    counts = {s: sum(p["split"] == s for p in data["policies"]) for s in ("A", "B")}
    print(f"{len(data['policies'])} policies in pool {prefix[-1].upper()} (A {counts['A']}, "
          f"B {counts['B']}) -> {pool_file}; {len(records)} sentences to label written to {out}")


def write_pool(mirrors: Path) -> None:
    data = pool(mirrors)
    data.pop("_held_text")
    POOL_FILE.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    counts = {s: sum(p["split"] == s for p in data["policies"]) for s in ("A", "B")}
    print(f"{len(data['policies'])} policies (A {counts['A']}, B {counts['B']}) -> {POOL_FILE}")


def score(split: str, mirrors: Path, labels_file: Path, rules=None, quiet: bool = False,
          errors: bool = False, pool_file: Path = POOL_FILE, part: str = "all") -> dict:
    """Precision and recall of the sale and ads risk findings on one split's labelled sentences,
    raw and weighted by the inverse sampling rate of each sentence's stratum at sampling time."""
    rules = rules or load_rules()
    records = [json.loads(line) for line in open(labels_file, encoding="utf-8") if line.strip()]
    pool_data = json.loads(pool_file.read_text(encoding="utf-8"))
    splits = {p["policy"]: p["split"] for p in pool_data["policies"]}
    records = [r for r in records if splits.get(r["policy"]) == split]
    if part != "all":  # "tuning" / "frozen": bench/accuracy.py's is_frozen split of the policies
        records = [r for r in records if is_frozen(r["policy"]) == (part == "frozen")]
    by_policy: dict = {}
    for record in records:
        by_policy.setdefault((record["source"], record["path"], record["commit"]), []).append(record)
    out = {}
    tallies = {c: {"tp": 0.0, "fp": 0.0, "fn": 0.0, "n_tp": 0, "n_fp": 0, "n_fn": 0}
               for c in KEYWORDS}
    new_unlabelled = {c: 0 for c in KEYWORDS}
    fired_rules: dict = {c: {} for c in KEYWORDS}
    for (source, path, commit), items in sorted(by_policy.items()):
        text = archived_text(git_dir(source, mirrors), commit, path)
        sentences = {(s["start"], s["end"]): s["fired"] for s in policy_sentences(text, rules)}
        labelled = {(r["start"], r["end"]) for r in items}
        for span, fired in sentences.items():
            for category in fired:
                if span not in labelled and KEYWORDS[category]:
                    new_unlabelled[category] += 1
        for record in items:
            fired = sentences.get((record["start"], record["end"]), {})
            for stratum in record["strata"]:
                category = stratum["category"]
                label = record["labels"].get(category)
                if label is None:
                    continue
                weight = stratum["frame"] / stratum["taken"]
                guess = category in fired
                tally = tallies[category]
                outcome = "tp" if guess and label else "fp" if guess else "fn" if label else None
                if outcome:
                    tally[outcome] += weight
                    tally["n_" + outcome] += 1
                if errors and outcome in ("fp", "fn"):
                    print(f"{outcome} {category} {fired.get(category, '-')} {record['id']}: "
                          f"{' '.join(text[record['start']:record['end']].split())[:400]}")
                if guess:
                    rule = fired[category]
                    fired_rules[category].setdefault(rule, [0, 0])[0 if label else 1] += 1
    # new findings on sentences not labelled in this category's strata are not in the figures
    for category, tally in tallies.items():
        p = tally["tp"] / (tally["tp"] + tally["fp"]) if tally["tp"] + tally["fp"] else 0.0
        r = tally["tp"] / (tally["tp"] + tally["fn"]) if tally["tp"] + tally["fn"] else 0.0
        n_p = tally["n_tp"] / (tally["n_tp"] + tally["n_fp"]) if tally["n_tp"] + tally["n_fp"] else 0.0
        n_r = tally["n_tp"] / (tally["n_tp"] + tally["n_fn"]) if tally["n_tp"] + tally["n_fn"] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        out[category] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3),
                         "raw_precision": round(n_p, 3), "raw_recall": round(n_r, 3),
                         "tp": tally["n_tp"], "fp": tally["n_fp"], "fn": tally["n_fn"],
                         "rules": fired_rules[category]}
        if not quiet:
            print(f"{split}{'' if part == 'all' else ' ' + part} {category}: weighted P {p:.3f} R {r:.3f} F1 {f1:.3f} | raw P {n_p:.3f} "
                  f"R {n_r:.3f} (tp {tally['n_tp']}, fp {tally['n_fp']}, fn {tally['n_fn']}) | "
                  f"rules (true, false) {fired_rules[category]}")
    if not quiet:
        print(f"{split}: {len(records)} labelled sentences of {len(by_policy)} policies; "
              f"findings on sentences with no record (not scored): {new_unlabelled}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    parser.add_argument("--pool", choices=("a", "c", "d", "h"), default="a",
                        help="a: real-audit-a (splits A, B); c: the fresh pool real-audit-c (C); "
                             "d: the fresh pool real-audit-d (A tuning, B validation); h: one "
                             "share of pool D's unread policies, real-audit-h (sample --share)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("pool", help="list the pool and its split")
    make = commands.add_parser("sample", help="write the sentences to label (third-party text)")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--share", type=Path,
                      help="pool h: a JSON file with the share's policy names (a list, or an "
                           "object whose --share-key entry is the list)")
    make.add_argument("--share-key", default="sale")
    judge = commands.add_parser("score", help="score one split's labelled sentences")
    judge.add_argument("--split", choices=("A", "B", "C"), required=True)
    judge.add_argument("--labels", type=Path)
    judge.add_argument("--part", choices=("all", "tuning", "frozen"), default="all",
                       help="only the policies bench/accuracy.py's is_frozen leaves in (tuning) or "
                            "freezes (frozen); round 3 tunes on real-audit-c's tuning part")
    judge.add_argument("--errors", action="store_true",
                       help="print the false findings and the misses (pool a's A and B; pool "
                            "c's tuning part since round 3; pool d's A; never pool d's B nor a "
                            "frozen part)")
    args = parser.parse_args(argv)
    try:
        if args.command == "pool" and args.pool == "c":
            data = pool_c(args.mirrors)
            print(f"{len(data['policies'])} policies in pool C")
        elif args.command == "pool" and args.pool == "d":
            data = pool_d(args.mirrors)
            for p in data["policies"]:
                print(f"{p['split']} {p['policy']:34} {p['source']:40} {p['path']}")
            print(f"{len(data['policies'])} policies in pool D")
        elif args.command == "pool" and args.pool == "h":
            print("pool h is written by `--pool h sample --share FILE`", file=sys.stderr)
            return 1
        elif args.command == "pool":
            write_pool(args.mirrors)
        elif args.command == "sample":
            if ROOT in args.out.resolve().parents:
                print("error: --out must be outside the repository (third-party text)",
                      file=sys.stderr)
                return 1
            if args.pool == "h":
                if not args.share:
                    print("error: pool h needs --share", file=sys.stderr)
                    return 1
                share = json.loads(args.share.read_text(encoding="utf-8"))
                sample_d(args.mirrors, args.out,
                         share=share[args.share_key] if isinstance(share, dict) else share)
            else:
                {"a": sample, "c": sample_c, "d": sample_d}[args.pool](args.mirrors, args.out)
        else:
            pools = {"a": (("A", "B"), LABELS_FILE, POOL_FILE),
                     "c": (("C",), C_LABELS_FILE, C_POOL_FILE),
                     "d": (("A", "B"), D_LABELS_FILE, D_POOL_FILE),
                     "h": (("A", "B"), H_LABELS_FILE, H_POOL_FILE)}
            splits, labels_file, pool_file = pools[args.pool]
            if args.split not in splits:
                print(f"error: pool {args.pool}'s splits are {', '.join(splits)}", file=sys.stderr)
                return 1
            unread = (args.pool in ("d", "h") and args.split == "B") or args.part == "frozen" or \
                (args.pool == "c" and args.part != "tuning")
            if args.errors and unread:
                print("error: --errors prints sentences: pool a's A and B, pool c's tuning part "
                      "and pool d's A only (the rest stays unread)", file=sys.stderr)
                return 1
            score(args.split, args.mirrors, args.labels or labels_file, errors=args.errors,
                  pool_file=pool_file, part=args.part)
    except ArchiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
