"""The demo's Android app: Tiny Tunes TV's APK, built from source when the demo runs.

Built with Debian's Android tools (`make android-tools`) by scanner/demo/apkbuild.py, like the
test APKs: stub classes under the package names of the SDKs it carries. Without the tools the
demo scans the app's store page and website only, and says so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scanner.demo.apkbuild import ApkBuilder, ApkSpec, missing_tools

DEMO_APPS = {
    "tiny-tunes-tv": ApkSpec(
        package="tv.tinytunes.kids", version_name="4.2.0", version_code=420,
        label="Tiny Tunes TV",
        permissions=("android.permission.INTERNET", "android.permission.ACCESS_NETWORK_STATE",
                     "com.google.android.gms.permission.AD_ID",
                     "android.permission.RECORD_AUDIO"),
        dex_classes=(
            ("tv.tinytunes.kids.MainActivity", "tv.tinytunes.kids.player.VideoPlayer",
             "com.google.android.gms.ads.AdView", "com.google.android.gms.ads.MobileAds"),
            ("com.appsflyer.AppsFlyerLib", "com.unity3d.ads.UnityAds"),
        ),
    ),
}


def with_demo_apks(targets, build_dir: Path) -> tuple[list, str | None]:
    """The targets with the demo APKs they name built and attached; (targets, note or None)."""
    missing = missing_tools()
    if missing:
        return targets, (f"demo APK not built (missing {', '.join(missing)}: make android-tools); "
                         "the app's store page is still read")
    builder = ApkBuilder(build_dir)
    built = []
    for target in targets:
        spec = DEMO_APPS.get(target.id)
        if spec is not None and target.android is not None:
            apk = builder.build(spec)
            target = dataclasses.replace(
                target, android=dataclasses.replace(target.android, apk=str(apk)))
        built.append(target)
    return built, None
