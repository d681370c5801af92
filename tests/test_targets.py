"""The targets file: YAML and CSV, and one-line errors with file and line (exit 2)."""

import pytest
from click.testing import CliRunner

from helpers import write_file
from scanner.cli import cli
from scanner.targets import TargetsError, load_targets

GOOD = """\
targets:
  - id: abc-learning
    name: ABC Learning
    audience: child-directed
    homepage: https://abc-learning.example/
    policy_urls: [https://abc-learning.example/privacy]
    country: TH
    platforms: [web, android]
    tags: [edtech]
  - id: games-r-us
    audience: general
    homepage: http://games.example/
"""


def test_yaml_targets_load(tmp_path):
    targets = load_targets(write_file(tmp_path, GOOD))
    assert [t.id for t in targets] == ["abc-learning", "games-r-us"]
    first = targets[0]
    assert first.policy_urls == ["https://abc-learning.example/privacy"]
    assert first.child_directed and first.country == "TH" and first.tags == ["edtech"]
    assert targets[1].name == "games-r-us"  # name defaults to the id


def test_csv_targets_load(tmp_path):
    path = write_file(tmp_path, "id,name,audience,homepage,policy_urls,tags\n"
                           "abc,ABC,mixed,https://abc.example/,https://abc.example/p;https://abc.example/k,edtech\n",
                 "targets.csv")
    (target,) = load_targets(path)
    assert target.audience == "mixed"
    assert target.policy_urls == ["https://abc.example/p", "https://abc.example/k"]


@pytest.mark.parametrize(
    "text, line, words",
    [
        (GOOD.replace("    country: TH\n", "    county: TH\n"), 7, "unknown key 'county'"),
        (GOOD.replace("games-r-us", "abc-learning"), 10, "duplicate id 'abc-learning'"),
        (GOOD.replace("http://games.example/", "games.example"), 12, "not an http(s) URL"),
        (GOOD.replace("audience: general", "audience: kids"), 11, "audience 'kids'"),
        (GOOD.replace("https://abc-learning.example/privacy", "ftp://x/privacy"), 6, "policy_urls"),
        ("targets:\n  - id: [unclosed\n", 3, "not valid YAML"),
    ],
)
def test_bad_targets_name_file_and_line(tmp_path, text, line, words):
    path = write_file(tmp_path, text)
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message
    assert "\n" not in message


def test_csv_error_names_its_line(tmp_path):
    path = write_file(tmp_path, "id,audience,homepage\nok,mixed,https://ok.example/\nbad,mixed,nope\n",
                 "t.csv")
    with pytest.raises(TargetsError, match=rf"^{path}:3: target 'bad': homepage"):
        load_targets(path)


def test_scan_with_bad_targets_exits_2_and_keeps_the_database(tmp_path):
    from scanner.store import open_db

    db_path = tmp_path / "results.db"
    db = open_db(db_path)
    db["scans"].insert({"started_at": "x", "status": "complete"})
    db.close()
    path = write_file(tmp_path, GOOD.replace("audience: general", "audience: kids"))
    result = CliRunner().invoke(cli, ["scan", str(path), "--db", str(db_path)])
    assert result.exit_code == 2
    assert f"{path}:11:" in result.output
    assert open_db(db_path)["scans"].count == 1


def test_missing_targets_file_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["scan", str(tmp_path / "nope.yaml"), "--db", str(tmp_path / "d.db")])
    assert result.exit_code == 2
    assert "nope.yaml: no such file" in result.output


ANDROID = """\
targets:
  - id: kids-app
    audience: child-directed
    homepage: https://kids.example/
    android:
      package: com.example.kids
      apk: apks/kids.apk
  - id: web-and-store
    audience: mixed
    homepage: https://mixed.example/
    android:
      package: com.example.mixed
      apk: https://downloads.example/mixed.apk
      store_url: https://store.example/app?id=com.example.mixed
"""


def test_android_mapping_loads_with_defaults(tmp_path):
    from scanner.apps import is_url

    (tmp_path / "apks").mkdir()
    (tmp_path / "apks" / "kids.apk").write_bytes(b"PK")
    kids, mixed = load_targets(write_file(tmp_path, ANDROID))
    assert kids.android.package == "com.example.kids"
    # A relative APK path is read from the targets file's folder, wherever the scan runs.
    assert kids.android.apk == str(tmp_path / "apks" / "kids.apk")
    assert not is_url(kids.android.apk)
    assert kids.android.listing_url == \
        "https://play.google.com/store/apps/details?id=com.example.kids&hl=en&gl=US"
    assert is_url(mixed.android.apk)
    assert mixed.android.listing_url == "https://store.example/app?id=com.example.mixed"


def test_android_mapping_survives_a_worker_job(tmp_path):
    """Workers get their targets as JSON: the android mapping comes back as a mapping."""
    import dataclasses
    import json

    from scanner.targets import AndroidApp, Target

    (tmp_path / "apks").mkdir()
    (tmp_path / "apks" / "kids.apk").write_bytes(b"PK")
    for target in load_targets(write_file(tmp_path, ANDROID)):
        again = Target(**json.loads(json.dumps(dataclasses.asdict(target))))
        assert again == target and isinstance(again.android, AndroidApp)


def test_android_columns_in_csv(tmp_path):
    path = write_file(tmp_path, "id,audience,homepage,android_package,android_store_url\n"
                           "a,mixed,https://a.example/,com.a.app,https://store.example/a\n"
                           "b,mixed,https://b.example/,,\n", "t.csv")
    first, second = load_targets(path)
    assert first.android.package == "com.a.app"
    assert first.android.store_url == "https://store.example/a"
    assert second.android is None


@pytest.mark.parametrize(
    "old, new, line, words",
    [
        ("      package: com.example.kids\n", "      package: kids\n", 6, "application id"),
        ("      apk: apks/kids.apk\n", "      apk: apks/missing.apk\n", 7, "no such file"),
        ("      apk: apks/kids.apk\n", "      apk: apks/kids.apk\n      pkg: x\n", 8, "unknown key 'pkg'"),
        ("      store_url: https://store.example/app?id=com.example.mixed\n",
         "      store_url: store.example/app\n", 14, "store_url"),
        ("      apk: https://downloads.example/mixed.apk\n",
         "      apk: ftp://downloads.example/mixed.apk\n", 13, "not an http(s) URL"),
        ("    android:\n      package: com.example.kids\n      apk: apks/kids.apk\n",
         "    android: com.example.kids\n", 5, "must be a mapping"),
    ],
)
def test_bad_android_mapping_names_file_and_line(tmp_path, old, new, line, words):
    (tmp_path / "apks").mkdir()
    (tmp_path / "apks" / "kids.apk").write_bytes(b"PK")
    text = ANDROID.replace(old, new, 1)
    assert text != ANDROID
    path = write_file(tmp_path, text)
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message and "\n" not in message
