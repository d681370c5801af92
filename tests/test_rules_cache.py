"""The compiled rules cache: workers read the parsed policy rules from a pickle keyed by the rule
files, the parsing code and the Python version, and never trust a cache that does not match."""

from __future__ import annotations

import pickle

import pytest

from scanner import rule_schema
from scanner.matching import classify, load_rules, rule_files


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(rule_schema.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / rule_schema.RULES_CACHE_NAME


def sample_text(rules) -> str:
    """Every rule's own match and no_match examples: text on which every rule has a say."""
    return " ".join(s.rstrip(".") + "." for r in rules if r.lang == "en"
                    for s in r.examples.get("match", []) + r.examples.get("no_match", []))


def findings(rules, text):
    return [(f.rule_id, f.polarity, f.start, f.end, f.evidence) for f in classify(text, rules)]


def test_a_second_load_reads_the_cache_and_classifies_alike(cache, monkeypatch):
    parsed = load_rules(rule_files())
    first = load_rules()
    assert cache.exists()

    def no_parsing(path):
        raise AssertionError(f"parsed {path} although the cache matches")

    monkeypatch.setattr(rule_schema, "load_rule_file", no_parsing)
    second = load_rules()
    text = sample_text(parsed)
    assert [r.id for r in second] == [r.id for r in parsed]
    assert [r.version for r in second] == [r.version for r in parsed]
    assert findings(second, text) == findings(parsed, text) == findings(first, text)
    assert findings(second, text)  # the sample text does fire rules
    assert second[0] is not first[0]  # fresh objects: a caller changing one changes no other


def test_deprecated_rules_come_from_the_same_cache(cache):
    everything = load_rules(include_deprecated=True)
    assert cache.exists()
    assert [r.id for r in load_rules(include_deprecated=True)] == [r.id for r in everything]
    assert [r.id for r in load_rules()] == [r.id for r in everything if r.status != "deprecated"]


@pytest.mark.parametrize("content", [b"not a pickle", b"", pickle.dumps(("other key", []))[:-3],
                                     pickle.dumps(("other key", ["not a rule"]))])
def test_a_corrupt_or_stale_cache_is_ignored_and_rebuilt(cache, content):
    expected = [r.version for r in load_rules(rule_files())]
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content)
    assert [r.version for r in load_rules()] == expected
    key, rules = pickle.loads(cache.read_bytes())
    assert key == rule_schema.rules_cache_key()
    assert [r.version for r in rules if r.status != "deprecated"] == expected


def test_a_cache_of_other_rule_files_is_not_used(cache, monkeypatch):
    load_rules()
    key, rules = pickle.loads(cache.read_bytes())
    cache.write_bytes(pickle.dumps((key, rules[:1])))
    assert len(load_rules(include_deprecated=True)) == 1  # the key matches: trusted
    monkeypatch.setattr(rule_schema, "rules_cache_key", lambda root=None: key + "-edited")
    assert len(load_rules(include_deprecated=True)) == len(rules)  # rules changed: parsed again


def test_a_cache_file_others_may_write_is_not_unpickled(cache):
    load_rules()
    key, rules = pickle.loads(cache.read_bytes())
    cache.write_bytes(pickle.dumps((key, rules[:1])))
    cache.chmod(0o666)
    assert len(load_rules(include_deprecated=True)) == len(rules)
    assert cache.stat().st_mode & 0o077 == 0  # rebuilt private to its owner


def test_a_cache_folder_that_cannot_be_written_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(rule_schema.CACHE_DIR_ENV, str(blocker / "cache"))
    assert [r.id for r in load_rules()] == [r.id for r in load_rules(rule_files())]
    assert list(tmp_path.iterdir()) == [blocker]
