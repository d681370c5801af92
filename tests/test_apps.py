"""APK analysis on real APKs built at test time from smali sources by Debian's Android tools."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest
import yaml

from apkbuild import ApkBuilder, ApkSpec, lying_zip_bomb, missing_tools, zip_bomb
from helpers import invoke
from scanner.apps import (
    MAX_APK_BYTES, SDK_RULES_DIR, AppAnalysisError, SdkRuleError, analyse_apk, check_sdk_rules,
    exodus_code_pattern, fetch_apk, load_signatures,
)
from scanner.importers import import_list

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TOOLS_MISSING = missing_tools()
# Off CI a developer without the tools gets a skip saying how to install them; on CI they must run.
pytestmark = pytest.mark.skipif(
    bool(TOOLS_MISSING) and not ON_CI,
    reason=f"missing {', '.join(TOOLS_MISSING)}: run `make android-tools` (CI=true makes this fail)")

AD_ID = "com.google.android.gms.permission.AD_ID"
KIDS_GAME = ApkSpec(
    package="com.example.kidsgame", version_name="2.4.1", version_code=241, min_sdk=21, target_sdk=34,
    permissions=("android.permission.INTERNET", "android.permission.ACCESS_FINE_LOCATION", AD_ID,
                 "android.permission.RECORD_AUDIO"),
    dex_classes=(
        ("com/example/kidsgame/Game", "com/google/android/gms/ads/AdView",
         "com/google/android/gms/ads/identifier/AdvertisingIdClient", "com/kidoz/sdk/api/KidozSDK",
         "com/kidoz/sdk/api/KidozSDK$Listener"),
        ("com/appsflyer/AppsFlyerLib", "tv/superawesome/sdk/publisher/AwesomeAds",
         "com/unity3d/player/UnityPlayerActivity", "com/kiddo/ads/Banner"),
    ),
    strings=("https://sdk.kidoz.net/api/init", "https://ads.superawesome.tv/v2/ad",
             "https://api.kiddoads.test/v1/collect"),
    references=("com/adjust/sdk/Adjust",),
)
# No SDK: the advertising-ID client alone is no ad SDK, and the Unity engine is not Unity Ads.
CLEAN_APP = ApkSpec(
    package="com.example.clean", version_name="1.0", version_code=1,
    permissions=("android.permission.INTERNET",),
    dex_classes=(("com/example/clean/Main", "com/google/android/gms/ads/identifier/AdvertisingIdClient",
                  "com/unity3d/player/UnityPlayerActivity", "com/kidozen/Client"),),
)

EXODUS_LIST = [{
    "1": {"id": 1, "name": "Google AdMob", "creation_date": "2024-05-03",
          "code_signature": "com.google.android.gms.ads.|com.google.ads.",
          "network_signature": "doubleclick\\.net", "categories": ["Advertisement"]},
    "2": {"id": 2, "name": "Kiddo Ads", "creation_date": "2023-01-01",
          "code_signature": "com\\.kiddo\\.ads", "network_signature": "kiddoads\\.test",
          "categories": ["Advertisement", "Analytics"]},
    "3": {"id": 3, "name": "Adjust", "creation_date": "2022-01-01", "code_signature": "com.adjust.sdk",
          "network_signature": "", "categories": ["Analytics"]},
    "4": {"id": 4, "name": "Everything", "creation_date": "2022-01-01", "code_signature": "com",
          "network_signature": "", "categories": ["Analytics"]},
    "5": {"id": 5, "name": "Absent SDK", "creation_date": "2022-01-01", "code_signature": "io.absent.sdk.",
          "network_signature": "absent\\.test", "categories": ["Profiling"]},
}]


@pytest.fixture(scope="session")
def apks(tmp_path_factory):
    """Builds (once per session) and returns the path of an APK for a spec."""
    builder = ApkBuilder(tmp_path_factory.mktemp("apks"))
    return builder.build


@pytest.fixture(scope="session")
def curated():
    return load_signatures(exodus_files=[])


@pytest.fixture(scope="session")
def exodus_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exodus")
    source = folder / "trackers.json"
    source.write_text(json.dumps(EXODUS_LIST), encoding="utf-8")
    result = import_list("exodus", source, folder / "imported")
    assert result.sdk_signatures == 5 and result.sdk_path.exists()
    return result.sdk_path


def by_id(analysis):
    return {m.sdk_id: m for m in analysis.sdks}


def test_manifest_facts_and_file_identity(apks, curated):
    path = apks(KIDS_GAME)
    analysis = analyse_apk(path, curated)
    assert (analysis.package, analysis.version_name, analysis.version_code) == ("com.example.kidsgame", "2.4.1", 241)
    assert (analysis.min_sdk, analysis.target_sdk) == (21, 34)
    assert analysis.permissions == sorted(KIDS_GAME.permissions)
    assert analysis.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert analysis.size == path.stat().st_size
    assert analysis.dex_count == 2
    # every class of both DEX files, plus the app's own MainActivity
    assert analysis.classes_count == sum(map(len, KIDS_GAME.dex_classes)) + 1
    with zipfile.ZipFile(path) as archive:
        assert {"classes.dex", "classes2.dex"} <= set(archive.namelist())
        assert any(n.startswith("META-INF/") for n in archive.namelist()), "the APK is signed"


def test_version_name_given_as_a_string_resource_is_resolved(apks, curated):
    spec = ApkSpec(package="com.example.resversion", version_name="@string/app_version",
                   string_resources=(("app_version", "3.1.4-kids"),))
    assert analyse_apk(apks(spec), curated).version_name == "3.1.4-kids"


def test_curated_sdks_are_found_in_every_dex_with_their_evidence(apks, curated):
    found = by_id(analyse_apk(apks(KIDS_GAME), curated))
    assert set(found) == {"google-admob", "kidoz", "appsflyer", "superawesome-awesomeads"}
    assert found["google-admob"].evidence == "com.google.android.gms.ads.AdView"
    assert (found["google-admob"].entity, found["google-admob"].category) == ("Google", "advertising")
    # classes2.dex: multidex is read
    assert found["superawesome-awesomeads"].evidence == "tv.superawesome.sdk.publisher.AwesomeAds"
    assert found["appsflyer"].category == "attribution"
    assert found["kidoz"].child_directed_adtech and found["superawesome-awesomeads"].child_directed_adtech
    assert not found["google-admob"].child_directed_adtech
    assert found["kidoz"].network_evidence == "https://sdk.kidoz.net/api/init"
    assert found["superawesome-awesomeads"].network_evidence == "https://ads.superawesome.tv/v2/ad"
    assert found["appsflyer"].network_evidence is None
    assert all(m.source == "curated 2026-12" and m.evidence_kind == "class" for m in found.values())
    assert "adjust" not in found, "a type only referenced is no proof for a curated rule"


def test_an_app_without_sdks_matches_none(apks, curated):
    analysis = analyse_apk(apks(CLEAN_APP), curated)
    assert analysis.sdks == []
    assert analysis.permissions == ["android.permission.INTERNET"] and analysis.dex_count == 1


def test_exodus_signatures_as_exodus_applies_them(apks, exodus_file):
    signatures = load_signatures(exodus_files=[exodus_file])
    found = {m.name: m for m in analyse_apk(apks(KIDS_GAME), signatures).sdks}
    # The Exodus AdMob signature finds the SDK a curated rule already names: one row, both sources.
    admob = found["Google AdMob (Google Mobile Ads SDK)"]
    assert admob.also_matched_by == ["exodus 2024-05-03: Google AdMob"]
    assert "Google AdMob" not in found
    kiddo = found["Kiddo Ads"]
    assert (kiddo.evidence, kiddo.evidence_kind, kiddo.category) == ("com.kiddo.ads.Banner", "class", "advertising")
    assert kiddo.source == "exodus 2024-05-03" and kiddo.sdk_id == "exodus:2"
    assert kiddo.network_evidence == "https://api.kiddoads.test/v1/collect"
    adjust = found["Adjust"]
    assert (adjust.evidence, adjust.evidence_kind) == ("com.adjust.sdk.Adjust", "referenced_type")
    assert "Everything" not in found, "signatures of 3 characters or fewer are skipped"
    assert "Absent SDK" not in found


def test_table_reader_reads_what_the_full_androguard_parser_reads(apks):
    from androguard.core.dex import DEX, TypeMapItem

    from scanner.apps import _dex_tables, _tables_dex_class

    with zipfile.ZipFile(apks(KIDS_GAME)) as archive:
        for name in ("classes.dex", "classes2.dex"):
            data = archive.read(name)
            light = _tables_dex_class()(data)  # no silent fallback to the full parser here
            full = DEX(data)
            types = full.map_list.get_item_type(TypeMapItem.TYPE_ID_ITEM).get_type()
            assert light.get_classes_names() == full.get_classes_names()
            assert _dex_tables(data) == (full.get_classes_names(), [t.get_descriptor_idx_value() for t in types],
                                         list(full.get_strings()))
        # the app's class implements an interface, has an annotation and a static value
        _, types, strings = _dex_tables(archive.read("classes.dex"))
    assert {"Ljava/io/Serializable;", "Ljava/lang/Deprecated;"} <= set(types)
    assert KIDS_GAME.package in strings


def test_prefiltered_exodus_matching_equals_plain_regex_search():
    from scanner.apps import DexContents, SignatureSet, SdkSignature, match_sdks, required_literals

    classes = ["com/acme/ads/Banner", "com/acme/ads/Banner$1", "io/tracky/core/Tracker",
               "org/x/comXfoo/Y", "net/mix/Panel", "com/kiddo/sdk/A"]
    referenced = ["com/refonly/sdk/Api"]
    signatures = ["com.acme.ads", "io.tracky.|io.other.", "com\\.foo", "comXfoo", "mix/Pan",
                  "[a-z]+/kiddo", "com.refonly.sdk", "absent.sdk|nothing.here", "kiddo.sdk.A$",
                  "(?i)NET.MIX", "x/com.foo"]
    built = []
    for index, text in enumerate(signatures):
        pattern = exodus_code_pattern(text)
        built.append(SdkSignature(id=f"e{index}", name=text, entity=text, category="analytics",
                                  source="exodus t", code_pattern=pattern,
                                  code_literals=required_literals(pattern.pattern)))
    found = {m.name: m.evidence for m in match_sdks(DexContents(classes, referenced, [], 1), SignatureSet(built))}
    expected = {}
    for signature in built:
        hit = next((c for c in classes if signature.code_pattern.search(c)), None) or \
            next((c for c in referenced if signature.code_pattern.search(c)), None)
        if hit:
            expected[signature.name] = hit.replace("/", ".")
    assert found == expected
    assert {"com.acme.ads", "io.tracky.|io.other.", "comXfoo", "(?i)NET.MIX"} <= set(found)
    assert "absent.sdk|nothing.here" not in found


def test_exodus_signature_pattern():
    assert exodus_code_pattern("com.foo.bar").search("x/com/foo/bar/Baz")
    assert exodus_code_pattern("com\\.foo").search("com/foo/Baz")
    assert not exodus_code_pattern("com\\.foo").search("comXfoo/Baz")
    assert exodus_code_pattern("abc") is None and exodus_code_pattern("") is None
    assert exodus_code_pattern("com.(broken") is None


def test_shipped_sdk_rules_pass_their_own_examples():
    problems, count = check_sdk_rules()
    assert problems == []
    signatures = load_signatures(exodus_files=[]).curated
    names = " | ".join(s.name for s in signatures)
    for required in ("SuperAwesome", "Kidoz", "AdMob", "Ad Manager", "Firebase Analytics", "Google Analytics",
                     "Meta Audience Network", "App Events", "Unity Ads", "AppLovin", "ironSource", "Vungle",
                     "Chartboost", "InMobi", "Mintegral", "Pangle", "AppsFlyer", "Adjust", "Branch", "Kochava",
                     "Singular", "Flurry", "Amplitude", "Mixpanel", "Braze", "OneSignal", "Crashlytics",
                     "Sentry", "Bugsnag", "AppMetrica", "Tapjoy", "Fyber", "Smaato", "Moloco"):
        assert required in names, required
    assert count == len(signatures) >= 34
    assert {s.id for s in signatures if s.child_directed_adtech} == {"superawesome-awesomeads", "kidoz"}


GOOD_RULE = {"id": "demo-sdk", "name": "Demo SDK", "entity": "Demo", "category": "advertising",
             "class_prefixes": ["com.demo.sdk."],
             "examples": {"match": ["com.demo.sdk.Ads"], "no_match": ["com.demo.other.Ads"]}}


@pytest.mark.parametrize("change, field, message", [
    ({"category": "spying"}, "category", "'spying' unknown"),
    ({"entity": None}, "entity", "missing"),
    ({"class_prefixes": ["com demo"]}, "class_prefixes", "not a dotted package"),
    ({"class_prefixes": []}, "class_prefixes", "non-empty list"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"examples": {"match": ["com.other.Ads"], "no_match": ["com.demo.other.Ads"]}}, "examples.match",
     "does not match: 'com.other.Ads'"),
    ({"examples": {"match": ["com.demo.sdk.Ads"], "no_match": ["com.demo.sdk.Other"]}}, "examples.no_match",
     "matches: 'com.demo.sdk.Other'"),
    ({"examples": {"match": ["com.demo.sdk.Ads"]}}, "examples.no_match", "at least one"),
])
def test_bad_sdk_rule_is_one_line_naming_file_sdk_and_field(tmp_path, change, field, message):
    path = tmp_path / "sdks.yaml"
    path.write_text(yaml.safe_dump({"source": "t", "sdks": [{**GOOD_RULE, **change}]}), encoding="utf-8")
    problems, _ = check_sdk_rules([path])
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: sdk demo-sdk: {field}: ") and message in problems[0]
    assert "\n" not in problems[0]


def test_duplicate_sdk_id_and_bad_yaml(tmp_path):
    path = tmp_path / "sdks.yaml"
    path.write_text(yaml.safe_dump({"sdks": [GOOD_RULE, GOOD_RULE]}), encoding="utf-8")
    assert check_sdk_rules([path])[0] == [f"{path}: sdk demo-sdk: id: duplicate (also in {path})"]
    with pytest.raises(SdkRuleError, match="duplicate"):
        load_signatures([path], [])
    broken = tmp_path / "broken.yaml"
    broken.write_text("sdks: [\n  - id: x\n", encoding="utf-8")
    problems, _ = check_sdk_rules([broken])
    assert len(problems) == 1 and problems[0].startswith(f"{broken}:") and "not valid YAML" in problems[0]


# --------------------------------------------------------------------------- bad input


def test_not_a_zip(tmp_path, curated):
    path = tmp_path / "notes.apk"
    path.write_text("just text, no archive\n", encoding="utf-8")
    with pytest.raises(AppAnalysisError, match=r"^not a zip file"):
        analyse_apk(path, curated)


def test_truncated_apk(tmp_path, apks, curated):
    data = apks(KIDS_GAME).read_bytes()
    path = tmp_path / "truncated.apk"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AppAnalysisError, match=r"^truncated or corrupt zip"):
        analyse_apk(path, curated)


def test_zip_bomb_is_refused_before_inflating(tmp_path, curated):
    path = zip_bomb(tmp_path / "bomb.apk")
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(AppAnalysisError, match=r"^zip bomb suspected: classes.dex inflates \d+x") as caught:
        analyse_apk(path, curated)
    assert "\n" not in str(caught.value)


def test_zip_bomb_lying_about_its_size_is_stopped_at_the_declared_size(tmp_path, apks, curated):
    with zipfile.ZipFile(apks(CLEAN_APP)) as source:
        manifest = source.read("AndroidManifest.xml")
    path = lying_zip_bomb(tmp_path / "liar.apk", manifest)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("classes.dex").file_size == 1000, "the ratio check cannot see it"
    with pytest.raises(AppAnalysisError, match=r"^corrupt entry classes.dex: Bad CRC-32"):
        analyse_apk(path, curated)


def test_apk_over_the_size_limit(apks, curated):
    path = apks(CLEAN_APP)
    with pytest.raises(AppAnalysisError, match=r"^APK is .* MB, over the 0.0 MB limit"):
        analyse_apk(path, curated, max_bytes=1000)
    assert MAX_APK_BYTES == 300 * 1024 * 1024


def test_zip_without_manifest_and_damaged_dex(tmp_path, apks, curated):
    plain = tmp_path / "plain.apk"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(AppAnalysisError, match="no AndroidManifest.xml"):
        analyse_apk(plain, curated)
    with zipfile.ZipFile(apks(CLEAN_APP)) as source:
        manifest = source.read("AndroidManifest.xml")
    damaged = tmp_path / "damaged.apk"
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr("AndroidManifest.xml", manifest)
        archive.writestr("classes.dex", b"dex\n035\0" + b"\x01" * 40)
    with pytest.raises(AppAnalysisError, match=r"^classes.dex is not a readable DEX file"):
        analyse_apk(damaged, curated)


def test_corrupt_entry_is_caught_by_its_crc(tmp_path, apks, curated):
    data = bytearray(apks(CLEAN_APP).read_bytes())
    with zipfile.ZipFile(apks(CLEAN_APP)) as archive:
        info = archive.getinfo("classes.dex")
    # flip bytes inside the stored or deflated DEX data (after the 30-byte local header and name)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 64
    data[start:start + 8] = bytes(b ^ 0xFF for b in data[start:start + 8])
    path = tmp_path / "flipped.apk"
    path.write_bytes(bytes(data))
    with pytest.raises(AppAnalysisError, match=r"corrupt entry classes.dex|classes.dex is not a readable DEX"):
        analyse_apk(path, curated)


# --------------------------------------------------------------------------- fetching


def test_fetch_apk_streams_a_url_to_disk(tmp_path, apks, loopback_site):
    body = apks(CLEAN_APP).read_bytes()
    site = loopback_site({"/app.apk": (200, {"Content-Type": "application/vnd.android.package-archive"}, body)})
    path = fetch_apk(f"{site.url}/app.apk", tmp_path / "dl", allow_private=True)
    assert path.read_bytes() == body and path.parent == tmp_path / "dl"
    with pytest.raises(AppAnalysisError, match="over the limit of 1000 bytes"):
        fetch_apk(f"{site.url}/app.apk", tmp_path / "small", max_bytes=1000, allow_private=True)
    assert list((tmp_path / "small").iterdir()) == [], "no partial file is left behind"
    with pytest.raises(AppAnalysisError, match="private or loopback: use --allow-private"):
        fetch_apk(f"{site.url}/app.apk", tmp_path / "dl2")
    assert site.requests == ["/app.apk", "/app.apk"], "a refused URL is never requested"


def test_fetch_apk_refuses_a_redirect_to_link_local(tmp_path, loopback_site):
    site = loopback_site({"/go": (302, {"Location": "http://169.254.169.254/latest/app.apk"}, b"")})
    with pytest.raises(AppAnalysisError, match="redirect to http://169.254.169.254/latest/app.apk refused: .*link-local"):
        fetch_apk(f"{site.url}/go", tmp_path, allow_private=True)
    with pytest.raises(AppAnalysisError, match="HTTP 404"):
        fetch_apk(f"{site.url}/missing.apk", tmp_path, allow_private=True)
    assert fetch_apk(__file__, tmp_path) == Path(__file__), "a local path is used where it is"
    with pytest.raises(AppAnalysisError, match="missing.apk: no such file"):
        fetch_apk(str(tmp_path / "missing.apk"), tmp_path)


# --------------------------------------------------------------------------- CLI


def test_cli_json_one_record_per_apk_and_exit_1_on_a_bad_one(tmp_path, apks, exodus_file):
    bad = tmp_path / "bad.apk"
    bad.write_bytes(b"MZ not an apk")
    args = ["apps", "analyse", "--format", "json", "--exodus", str(exodus_file),
            str(apks(KIDS_GAME)), str(bad), str(apks(CLEAN_APP))]
    result = invoke(*args)
    assert result.exit_code == 1
    records = json.loads(result.stdout)
    assert [r.get("package") for r in records] == ["com.example.kidsgame", None, "com.example.clean"]
    kids = records[0]
    assert {"package", "version_name", "permissions", "sdks"} <= set(kids)
    assert AD_ID in kids["permissions"]
    sdks = {s["name"]: s for s in kids["sdks"]}
    assert {"name", "entity", "category", "evidence"} <= set(sdks["Kidoz SDK"])
    assert sdks["Kidoz SDK"]["evidence"] == "com.kidoz.sdk.api.KidozSDK"
    assert sdks["Kiddo Ads"]["source"] == "exodus 2024-05-03"
    assert kids["signature_sources"] == ["curated 2026-12", "exodus 2024-05-03"]
    assert records[1] == {"file": str(bad), "error": "not a zip file (an APK is a zip archive)"}
    assert result.stderr.strip() == f"Error: {bad}: not a zip file (an APK is a zip archive)"


def test_cli_table_shows_evidence_and_succeeds(apks):
    result = invoke(*["apps", "analyse", "--no-exodus", str(apks(KIDS_GAME))])
    assert result.exit_code == 0, result.output
    assert "com.example.kidsgame" in result.stdout and "version 2.4.1 (code 241)" in result.stdout
    assert "class tv.superawesome.sdk.publisher.AwesomeAds" in result.stdout
    assert "[child-directed ad network]" in result.stdout
    assert "android.permission.RECORD_AUDIO" in result.stdout


def test_cli_bad_sdk_rules_exit_2(tmp_path, apks):
    path = tmp_path / "sdks.yaml"
    path.write_text(yaml.safe_dump({"sdks": [{**GOOD_RULE, "category": "spying"}]}), encoding="utf-8")
    result = invoke(*["apps", "analyse", "--sdk-rules", str(path), str(apks(CLEAN_APP))])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: sdk demo-sdk: category:")


def test_shipped_rules_dir_is_where_the_loader_looks():
    assert (SDK_RULES_DIR / "curated.yaml").is_file()


def test_rules_check_validates_sdk_rule_files(tmp_path):
    """`scanner rules check` covers rules/sdks/ and names the file, SDK and field of a problem."""


    result = invoke(*["rules", "check"])
    assert result.exit_code == 0, result.output
    bad = tmp_path / "sdks.yaml"
    bad.write_text("source: curated\nversion: '1'\nsdks:\n  - id: x-ads\n    name: X Ads\n"
                   "    entity: X\n    category: advertising\n    clas_prefixes: [com.x.]\n",
                   encoding="utf-8")
    result = invoke(*["rules", "check", str(bad)])
    assert result.exit_code == 1
    assert str(bad) in result.output and "x-ads" in result.output and "clas_prefixes" in result.output
