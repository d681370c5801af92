"""Speed and memory of APK analysis: one generated APK of about 30,000 classes in 3 DEX files.

The APK is built from smali sources by Debian's tools (tests/apkbuild.py; `make android-tools`)
and cached in the temporary folder. It is analysed in a fresh process pinned to one core: zip
checks, manifest, every DEX's classes, types and strings, then matching every signature (the
curated SDK rules plus an Exodus list: the imported one when there is one, else a generated list
of the same size and shapes). Prints seconds per APK and the analysing process's peak RSS.
Target: < 2 s per APK, peak RSS < 500 MB.

Run: .venv/bin/python bench/apps_speed.py [--classes 30000] [--dex 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TARGET_SECONDS = 2.0
TARGET_RSS_MB = 500
EXODUS_SIZE = 430          # about the number of trackers the Exodus list publishes
SDK_CLASSES = (            # a few real SDK class names among the generated ones
    "com/google/android/gms/ads/AdView", "com/appsflyer/AppsFlyerLib", "com/unity3d/ads/UnityAds",
    "com/kidoz/sdk/api/KidozSDK", "com/google/firebase/analytics/FirebaseAnalytics",
    "io/sentry/Sentry", "com/facebook/ads/AdView", "com/applovin/sdk/AppLovinSdk",
)


def bench_spec(classes: int, dex_files: int):
    from apkbuild import ApkSpec

    per_dex = classes // dex_files
    dexes = []
    for d in range(dex_files):
        # Package shapes like a real app: vendors, packages of ~40 classes, inner classes.
        names = [f"com/vendor{d}x{i // 400}/feature{i // 40}/Class{i}" + ("$Inner" if i % 7 == 0 else "")
                 for i in range(per_dex)]
        dexes.append(tuple(names))
    dexes[-1] = dexes[-1] + SDK_CLASSES
    return ApkSpec(package="com.example.benchkids", version_name="9.9.9", version_code=999,
                   permissions=("android.permission.INTERNET", "com.google.android.gms.permission.AD_ID"),
                   dex_classes=tuple(dexes), methods_per_class=2,
                   strings=("https://sdk.kidoz.net/api", "https://t.appsflyer.com/x"))


def generated_exodus_list(path: Path) -> Path:
    """An Exodus-shaped list: single packages, alternations, escaped dots, a few absent SDKs."""
    trackers = {}
    for i in range(EXODUS_SIZE):
        shape = i % 4
        code = [f"com.tracker{i}.sdk.", f"com.tracker{i}.|io.tracker{i}.ads",
                f"com\\.tracker{i}\\.analytics", f"net.tracker{i}.core|com.tracker{i}.lib.|org.tracker{i}"][shape]
        trackers[str(i)] = {"id": i, "name": f"Tracker {i}", "creation_date": "2026-01-01",
                            "code_signature": code, "network_signature": f"tracker{i}\\.test|t{i}\\.example",
                            "categories": ["Advertisement"] if i % 2 else ["Analytics"]}
    trackers["9001"] = {"id": 9001, "name": "Google AdMob", "creation_date": "2026-01-01",
                        "code_signature": "com.google.android.gms.ads.|com.google.ads.",
                        "network_signature": "doubleclick\\.net", "categories": ["Advertisement"]}
    source = path / "exodus-generated.json"
    source.write_text(json.dumps({"trackers": trackers}), encoding="utf-8")
    from scanner.importers import import_list

    return import_list("exodus", source, path, name="exodus-generated").sdk_path


def analyse_in_this_process(apk: str, exodus: list[str], repeat: int) -> dict:
    """The child: pinned to one core, analyses the APK `repeat` times, reports times and peak RSS."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from scanner import apps

    started = time.perf_counter()
    signatures = apps.load_signatures(exodus_files=exodus)
    load_seconds = time.perf_counter() - started
    times, read_times, match_times = [], [], []
    for _ in range(repeat):
        started = time.perf_counter()
        analysis = apps.analyse_apk(apk, signatures)
        times.append(time.perf_counter() - started)
        # The same work split in two, to show where the time goes.
        started = time.perf_counter()
        archive, _ = apps.open_archive(Path(apk))
        with archive:
            contents = apps.read_dex_contents(archive)
        read_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        apps.match_sdks(contents, signatures)
        match_times.append(time.perf_counter() - started)
    return {
        "seconds": times, "read_seconds": read_times, "match_seconds": match_times,
        "load_seconds": load_seconds, "classes": analysis.classes_count, "dex": analysis.dex_count,
        "strings": analysis.strings_count, "sdks": [m.name for m in analysis.sdks],
        "signatures": len(signatures.signatures), "apk_bytes": analysis.size,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=30_000)
    parser.add_argument("--dex", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(analyse_in_this_process(args.child[0], args.child[1:], args.repeat)))
        return 0

    from apkbuild import ApkBuilder, missing_tools

    missing = missing_tools()
    if missing:
        print(f"apps_speed: missing {', '.join(missing)}: run `make android-tools`", file=sys.stderr)
        return 2
    cache = Path(tempfile.gettempdir()) / "child-privacy-scanner-bench-apks"
    started = time.perf_counter()
    apk = ApkBuilder(cache).build(bench_spec(args.classes, args.dex))
    built = time.perf_counter() - started
    from scanner.apps import default_exodus_files

    exodus = [str(p) for p in default_exodus_files()]
    exodus_label = "imported Exodus list"
    if not exodus:
        exodus = [str(generated_exodus_list(Path(tempfile.mkdtemp(prefix="apps-bench-"))))]
        exodus_label = f"generated Exodus-shaped list ({EXODUS_SIZE + 1} trackers)"
    child = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat), "--child", str(apk), *exodus],
                           capture_output=True, text=True, timeout=1200)
    if child.returncode != 0:
        print(child.stderr[-3000:], file=sys.stderr)
        return 1
    result = json.loads(child.stdout.strip().splitlines()[-1])
    best, mean = min(result["seconds"]), sum(result["seconds"]) / len(result["seconds"])
    print(f"apps: {apk.name}: {result['apk_bytes'] / 1024 / 1024:.1f} MB, {result['dex']} DEX, "
          f"{result['classes']} classes, {result['strings']} strings (built or cached in {built:.1f} s)")
    print(f"apps: {result['signatures']} signatures (curated + {exodus_label}), loaded in "
          f"{result['load_seconds']:.2f} s")
    print(f"apps: {best:.2f} s per APK (best of {len(result['seconds'])}; mean {mean:.2f} s) on one core; "
          f"DEX reading {min(result['read_seconds']):.2f} s, matching {min(result['match_seconds']):.2f} s "
          f"(target < {TARGET_SECONDS:.0f} s)")
    print(f"apps: peak RSS of the analysing process {result['peak_rss_mb']:.0f} MB (target < {TARGET_RSS_MB} MB)")
    print(f"apps: SDKs found: {', '.join(result['sdks'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
