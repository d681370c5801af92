"""How the risk score spreads: scan N varied synthetic sites on loopback, print grades and ties.

Each site gets a random mix of trackers, policy sentences (English, or Thai for every fifth) and
audience, from a fixed seed. Prints the grade counts, how many targets with different findings
share a score, and how many single-tracker removals would leave a score unchanged.

Usage: python bench/score_spread.py [--targets 30] [--seed 12]
"""

from __future__ import annotations

import argparse
import collections
import random
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlite_utils
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scanner.scoring import explain, target_findings, tracker_rules  # noqa: E402
from scanner.targets import load_targets  # noqa: E402

TRACKERS = [
    '<script src="https://connect.facebook.net/en_US/fbevents.js"></script>',
    '<script src="https://analytics.tiktok.com/i18n/pixel/events.js"></script>',
    '<script src="https://www.google-analytics.com/analytics.js"></script>',
    '<script src="https://www.googletagmanager.com/gtag/js?id=G-X{i}"></script>',
    '<script src="https://securepubads.g.doubleclick.net/tag/js/gpt.js"></script>',
    '<script src="https://tags.bluekai.com/site/1{i}?ret=js"></script>',
    '<script src="https://cdn.krxd.net/controltag/a{i}.js"></script>',
    '<img src="https://pixel.quantserve.com/pixel/p-{i}.gif">',
    '<script src="https://static.kidoz.net/sdk/kidoz.js"></script>',
    '<iframe src="https://www.youtube.com/embed/v{i}"></iframe>',
    '<script src="https://static.hotjar.com/c/hotjar-{i}.js"></script>',
]
ENGLISH = [
    "We collect your name and email address.",
    "We collect the precise location of your device.",
    "We collect photos and voice recordings you upload.",
    "We collect device identifiers such as advertising IDs.",
    "We may sell your personal information to data brokers.",
    "We share information with advertising networks so that they can show you ads based on "
    "your interests.",
    "We use Google Analytics to understand how the service is used.",
    "We share information with service providers who host our service.",
    "We keep your information for as long as we find it useful.",
    "Your information may be transferred to countries outside Thailand.",
    "We do not sell your personal information.",
    "We obtain verifiable parental consent before collecting information from children under 13.",
    "A parent can review or delete their child's information at any time.",
    "We delete account data within 30 days after the account is closed.",
]
THAI = [
    "เราเก็บรวบรวมชื่อ นามสกุล อีเมล วันเกิด และชื่อโรงเรียนของผู้ใช้",
    "เราเก็บรวบรวมข้อมูลตำแหน่งที่ตั้งของอุปกรณ์และหมายเลขระบุตัวตนของอุปกรณ์",
    "เราอาจเปิดเผยข้อมูลส่วนบุคคลของท่านให้แก่พันธมิตรทางธุรกิจเพื่อวัตถุประสงค์ทางการตลาดและการโฆษณา",
    "เราอาจขายข้อมูลส่วนบุคคลของท่านให้แก่พันธมิตร",
    "เราจะไม่ขายข้อมูลส่วนบุคคลของท่าน",
    "หากผู้ใช้มีอายุต่ำกว่า 20 ปี เราจะขอความยินยอมจากผู้ปกครองก่อนเก็บรวบรวมข้อมูล",
]


def make_sites(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    sites = []
    for i in range(count):
        pool = THAI if i % 5 == 4 else ENGLISH
        sites.append({
            "trackers": [t.format(i=i) for t in rng.sample(TRACKERS, rng.randint(0, 6))],
            "policy": (None if i % 10 == 9
                       else rng.sample(pool, rng.randint(2, min(len(pool), 8)))),
            "audience": rng.choice(["child-directed", "child-directed", "mixed", "general"]),
            "lang": "th" if pool is THAI else "en",
        })
    return sites


def handler_for(sites: list[dict]):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            parts = self.path.strip("/").split("/")
            number = parts[0][1:]
            site = sites[int(number)] if number.isdigit() and int(number) < len(sites) else None
            status, body = 200, ""
            if site is None or (parts[-1] == "privacy.html" and site["policy"] is None):
                status, body = 404, "not found"
            elif parts[-1] == "privacy.html":
                body = (f"<html lang='{site['lang']}'><body><main><h1>Privacy</h1>"
                        + "".join(f"<p>{s}</p>" for s in site["policy"]) + "</main></body></html>")
            else:
                link = (f'<a href="/{parts[0]}/privacy.html">Privacy Policy</a>'
                        if site["policy"] else "")
                body = ("<html><head><title>Kids</title></head><body><p>Games</p>"
                        + "".join(site["trackers"]) + link + "</body></html>")
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def tracker_removals(db, scan_id: int, targets) -> tuple[int, int]:
    """(single-tracker removals tried, those that left the score unchanged), rescored offline."""
    tried = unchanged = 0
    for target in targets:
        rows = target_findings(db, scan_id, target.id)
        requests = tracker_rules(db, scan_id, target.id)
        has_policy = db.execute(
            "SELECT 1 FROM fetches WHERE scan_id = ? AND target_id = ? AND kind = 'policy' "
            "AND document_id IS NOT NULL", [scan_id, target.id]).fetchone() is not None
        score = explain(rows, child_directed=target.child_directed, has_policy=has_policy,
                        tracker_rules=requests)["score"]
        trackers = {r["rule_id"] for r in rows
                    if r["source"] == "tracker" and r["polarity"] == "risk"}
        for rule in trackers:
            urls = [u for u, matched in requests.items() if matched == rule]
            # The tracker gone takes its cross-checks (which quote its request URL) with it.
            kept = [r for r in rows if r["rule_id"] != rule
                    and not any(u in (r["evidence"] or "") for u in urls)]
            after = explain(kept, child_directed=target.child_directed, has_policy=has_policy,
                            tracker_rules=requests)["score"]
            tried += 1
            unchanged += after == score
    return tried, unchanged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=30)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    sites = make_sites(args.targets, args.seed)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(sites))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        targets_file = Path(tmp) / "targets.yaml"
        targets_file.write_text(yaml.safe_dump({"targets": [
            {"id": f"site-{i:02d}", "name": f"Site {i}", "audience": site["audience"],
             "homepage": f"{base}/s{i}/"} for i, site in enumerate(sites)]}), encoding="utf-8")
        db_path = Path(tmp) / "spread.db"
        result = subprocess.run(
            [sys.executable, "-m", "scanner.cli", "scan", str(targets_file), "--db", str(db_path),
             "--allow-private", "--max-pages", "2"],
            cwd=ROOT, capture_output=True, text=True,
        )
        server.shutdown()
        if result.returncode != 0:
            sys.exit(f"scan failed: {result.stderr[-2000:]}")
        db = sqlite_utils.Database(db_path)
        scan_id = db.execute("SELECT MAX(id) FROM scans").fetchone()[0]
        scores = [r for r in db["scores"].rows_where("scan_id = ?", [scan_id])
                  if r["score"] is not None]
        findings = {r["target_id"]: sorted(db.execute(
            "SELECT source, rule_id, polarity, evidence FROM findings "
            "WHERE scan_id = ? AND target_id = ?", [scan_id, r["target_id"]]).fetchall())
            for r in scores}
        by_score = collections.defaultdict(list)
        for r in scores:
            by_score[r["score"]].append(r["target_id"])
        ties = [ids for ids in by_score.values()
                if len(ids) > 1 and len({repr(findings[i]) for i in ids}) > 1]
        grades = collections.Counter(r["grade"] for r in scores)
        print(f"score spread: {len(scores)} graded targets, grades "
              + ", ".join(f"{g} {grades.get(g, 0)}" for g in "ABCDF")
              + f"; scores {min(r['score'] for r in scores)}-{max(r['score'] for r in scores)}, "
              f"{len(by_score)} distinct")
        print(f"score spread: {len(ties)} scores shared by targets with different findings"
              + (": " + "; ".join(", ".join(ids) for ids in ties) if ties else ""))
        tried, unchanged = tracker_removals(db, scan_id, load_targets(targets_file))
        print(f"score spread: {tried} single-tracker removals, "
              f"{unchanged} leave the score unchanged")


if __name__ == "__main__":
    main()
