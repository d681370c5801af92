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


def regexes(rule):
    return [*rule.patterns, *rule.unless, *rule.exceptions, *rule.context,
            *(term for clause in rule.near for term in clause.terms)]


def compiled_yet(regex) -> bool:
    """Whether a LazyPattern holds its compiled methods (its slot is filled)."""
    try:
        rule_schema.LazyPattern.search.__get__(regex)
    except AttributeError:
        return False
    return True


def test_cached_regexes_compile_when_first_used_and_match_as_compiled(cache):
    parsed = load_rules(rule_files())
    load_rules()
    cached = load_rules()
    lazy = [regex for rule in cached for regex in regexes(rule)]
    assert lazy and all(isinstance(regex, rule_schema.LazyPattern) for regex in lazy)
    assert not any(compiled_yet(regex) for regex in lazy)  # unpickled without compiling
    unused = lazy[0]
    # A regex that rules share is still one object (the engine looks each up once per sentence).
    by_text = {}
    for regex in lazy:
        assert by_text.setdefault((regex.pattern, regex.flags), regex) is regex
    for rule, original in zip(cached, parsed, strict=True):
        for regex, compiled in zip(regexes(rule), regexes(original), strict=True):
            assert (regex.pattern, regex.flags) == (compiled.pattern, compiled.flags)
            same = rule_schema.LazyPattern(compiled.pattern, compiled.flags)
            assert regex == same and hash(regex) == hash(same) and regex is not same
    text = sample_text(parsed)
    for regex, compiled in zip(lazy, (r for rule in parsed for r in regexes(rule)), strict=True):
        assert [m.span() for m in regex.finditer(text)] == [m.span() for m in compiled.finditer(text)]
        found, expected = regex.search(text, 5), compiled.search(text, 5)
        assert (found and found.span()) == (expected and expected.span())
    assert all(compiled_yet(regex) for regex in lazy)
    assert pickle.loads(pickle.dumps(unused)) == unused
    assert not compiled_yet(pickle.loads(pickle.dumps(unused)))
    with pytest.raises(AttributeError):
        unused.no_such_method  # noqa: B018 - only a pattern's own methods compile it


def test_a_regex_compiled_twice_is_one_object_in_the_cache():
    """re's cache may compile a regex that rules share twice (it holds 512): pickled, they are
    one LazyPattern, as the engine gives each distinct regex one probe."""
    import copy
    import re

    rules = load_rules(rule_files())[:2]
    first = re.compile(r"\bsell\b", re.I)
    re.purge()
    again = re.compile(r"\bsell\b", re.I)
    assert first is not again
    rules = [copy.copy(rules[0]), copy.copy(rules[1])]
    rules[0].patterns, rules[1].patterns = [first, re.compile("other")], [again]
    key, loaded = pickle.loads(rule_schema._pickled_rules("key", rules))
    assert key == "key"
    assert loaded[0].patterns[0] is loaded[1].patterns[0]
    assert loaded[0].patterns[1] is not loaded[0].patterns[0]
    assert loaded[1].patterns[0].search("We sell data").span() == (3, 7)


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
