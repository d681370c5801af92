"""The targets file: YAML and CSV, and one-line errors with file and line (exit 2)."""

import pytest
from click.testing import CliRunner

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


def write(tmp_path, text, name="targets.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_targets_load(tmp_path):
    targets = load_targets(write(tmp_path, GOOD))
    assert [t.id for t in targets] == ["abc-learning", "games-r-us"]
    first = targets[0]
    assert first.policy_urls == ["https://abc-learning.example/privacy"]
    assert first.child_directed and first.country == "TH" and first.tags == ["edtech"]
    assert targets[1].name == "games-r-us"  # name defaults to the id


def test_csv_targets_load(tmp_path):
    path = write(tmp_path, "id,name,audience,homepage,policy_urls,tags\n"
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
    path = write(tmp_path, text)
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message
    assert "\n" not in message


def test_csv_error_names_its_line(tmp_path):
    path = write(tmp_path, "id,audience,homepage\nok,mixed,https://ok.example/\nbad,mixed,nope\n",
                 "t.csv")
    with pytest.raises(TargetsError, match=rf"^{path}:3: target 'bad': homepage"):
        load_targets(path)


def test_scan_with_bad_targets_exits_2_and_keeps_the_database(tmp_path):
    from scanner.store import open_db

    db_path = tmp_path / "results.db"
    db = open_db(db_path)
    db["scans"].insert({"started_at": "x", "status": "complete"})
    db.close()
    path = write(tmp_path, GOOD.replace("audience: general", "audience: kids"))
    result = CliRunner().invoke(cli, ["scan", str(path), "--db", str(db_path)])
    assert result.exit_code == 2
    assert f"{path}:11:" in result.output
    assert open_db(db_path)["scans"].count == 1


def test_missing_targets_file_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["scan", str(tmp_path / "nope.yaml"), "--db", str(tmp_path / "d.db")])
    assert result.exit_code == 2
    assert "nope.yaml: no such file" in result.output
