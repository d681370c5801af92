"""The fast rule engine (prefilter, key anchoring, shared regex results) finds exactly what the
straightforward path finds: every rule tried on every sentence with plain regex searches."""

import random
import re
import types
from dataclasses import astuple

import pytest

from helpers import ROOT
from scanner import prefilter
from scanner.engine import FOLD_MISMATCH, CompiledRules, SentenceScan, _near_match
from scanner.matching import anchor, classify, load_rule_file, load_rules
from scanner.text import extract_html_text

RULES = load_rules(include_deprecated=True)
ENGLISH = [r for r in RULES if r.lang == "en"]

# Rules whose regexes stress the anchoring: keys not at a word start, a key only after a
# lookbehind, ^ at the beginning, (?m), optional leading words, punctuation keys, a class
# with a non-ASCII quote, and patterns with no key at all.
EDGE_RULES = r"""
rules:
  - id: sale.edge-substring
    category: sale
    severity: high
    polarity: risk
    status: experimental
    patterns: ['sell', '(?<!\bnot\s)\b(?:our\s+)?(?:data|information)\s+(?:is\s+)?sold\b',
               '(?<!un)sold\b', '\b(?:un|re)?sold\b', '(?:\s+|xy)sold\b', '(?<=a)sell',
               '\d(?:sold)+\b']
    unless: ['{NEG}\s+{LIST}sell']
    except: ['\bupsell']
    examples:
      match: ["We sell data.", "Our data is sold."]
      no_match: ["We do not sell data.", "Nothing here."]
    references: ["CCPA 1798.120"]
  - id: sale.edge-heading
    category: sale
    severity: info
    polarity: neutral
    status: experimental
    patterns: ['^[\W\d]*(?:[a-h]\.\s*)?(?:sale|selling)\s+of\b', '(?m)^\s*sold\b',
               '(?:^|[:|]\s*|(?:to|with)\s*[\s:])(?:our\s+)?(?:partners|vendors)\b',
               '[“"](?:sold|sale)[”"]', '[a-z]\s+shared\b', '(?<=[“"\s])(?:sold|sale)[”"]',
               '(?<=a)sell']
    examples:
      match: ["Sale of data", "3. Sale of personal information"]
      no_match: ["We do not sell.", "Nothing here."]
    references: ["CCPA 1798.120"]
  - id: collection.edge-near
    category: collection
    severity: low
    polarity: risk
    status: experimental
    near:
      - terms: ['(?:we|they)\s+(?:also\s+)?collect', '\b(?:e-?mail|phone)\b', 'data']
        within: 4
      - terms: ['\w+ed\b', '\bage\b']
        within: 2
    unless: ['\bnever\b', '{NEG}\s+{LIST}collect']
    examples:
      match: ["We collect your email data.", "Age is requested."]
      no_match: ["We never collect email data.", "Nothing here."]
    references: ["COPPA 16 CFR 312.2"]
"""

# Sentences where a wrong anchor or key would show: keys inside words, after quotes and
# lookbehinds, at the beginning, abutting matches, long runs of common words.
EDGE_SENTENCES = [
    "We upsell. Sold to: brokers. Data: sold", "Sold\nto us", "3. Sale of personal data",
    "Sharing with: partners and vendors", "|vendors| and our partners", 'The word "sold".',
    "They also collect e-mail and phone data. We NEVER collect email data.",
    "Age is asked; aged users", "We \u017fell data to \u212aids.", "Our information is sold.",
    "Not our data is sold", "I shared it", "It was resold, unsold and sold.",
    'It was “sold” and "sale" and sale" and asell or a sell.', "We xysold it", "asell", "Item 1sold out",
    "It was resold.", "We collect email datadata; they sellsell it, resold and sold.",
    "; ".join(["we share it with them and with us to you"] * 70),  # past ANCHOR_LIMIT
]

FOLD_CHARS = "\u0130\u0131\u017f\u212a"  # İ ı ſ K


def base_texts() -> list[str]:
    """The rules' own examples, the benign corpora and the demo sites' policies."""
    texts = [s for r in RULES for s in r.examples["match"] + r.examples["no_match"]]
    for path in sorted((ROOT / "tests" / "data").glob("*.txt")):
        texts.extend(line for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#"))
    for page in sorted((ROOT / "scanner" / "demo" / "sites").glob("*/**/*.html")):
        if "privacy" in page.name or "ccpa" in page.name or "cookies" in page.name:
            texts.extend(extract_html_text(page.read_text(encoding="utf-8")).text.split("\n"))
    return [t for t in texts if t.strip()]


def varied_corpus(seed: int = 4) -> list[str]:
    """Documents built from the base texts: joined, reordered, spliced mid-sentence, in other
    cases, inside lists and headings, with punctuation runs and characters that fold oddly."""
    rnd = random.Random(seed)
    texts = base_texts()
    documents = []
    for _ in range(120):
        pieces = rnd.sample(texts, k=min(len(texts), rnd.randint(1, 8)))
        shape = rnd.randrange(7)
        if shape == 0:
            documents.append(" ".join(pieces))
        elif shape == 1:
            documents.append("\n".join(p.upper() if rnd.random() < 0.3 else p for p in pieces))
        elif shape == 2:  # spliced: the end of one sentence joined to the start of another
            a, b = pieces[0], pieces[-1]
            documents.append(a[: rnd.randint(0, len(a))] + ", and " + b[rnd.randint(0, len(b)):])
        elif shape == 3:
            documents.append("Sharing of information:\n" + "\n".join(f"- {p.rstrip('.')}"
                                                                   for p in pieces))
        elif shape == 4:  # characters whose lower case differs from the regex's case folding
            text = " ".join(pieces)
            at = rnd.randrange(len(text) + 1)
            documents.append(text[:at] + rnd.choice(FOLD_CHARS) + text[at:])
        elif shape == 5:  # one long sentence: many positions for the common key words
            documents.append("; ".join(p.rstrip(".") for p in pieces * 3) + ".")
        else:
            documents.append(" ... ".join(p.title() for p in pieces) + " 1. Sale of data: yes")
    return documents


def findings(text, rules, fast):
    return [astuple(f) for f in classify(text, rules, lang="en", fast=fast)]


def test_fast_path_equals_reference_on_the_rule_set():
    corpus = varied_corpus()
    assert sum(len(d) for d in corpus) > 10_000
    total = 0
    for document in corpus:
        fast = findings(document, RULES, fast=True)
        assert fast == findings(document, RULES, fast=False), document[:300]
        total += len(fast)
    assert total > 100  # the corpus does exercise the rules


def test_fast_path_equals_reference_on_edge_rules(tmp_path):
    path = tmp_path / "edge.yaml"
    path.write_text(EDGE_RULES, encoding="utf-8")
    rules = load_rule_file(path)
    corpus = varied_corpus(seed=9) + EDGE_SENTENCES
    fired = set()
    for document in corpus:
        fast = findings(document, rules, fast=True)
        assert fast == findings(document, rules, fast=False), document[:300]
        fired.update(f[0] for f in fast)
    assert {"sale.edge-substring", "sale.edge-heading", "collection.edge-near"} <= fired


def test_anchored_search_equals_plain_search_for_every_regex(tmp_path):
    """SentenceScan.find / find_all give what re.search / re.finditer give, for every regex
    of every rule (patterns, near terms, unless, except) on every sentence of the corpus."""
    path = tmp_path / "edge.yaml"
    path.write_text(EDGE_RULES, encoding="utf-8")
    rules = ENGLISH + load_rule_file(path)
    compiled = CompiledRules(rules)
    regexes = {id(r): r for rule in rules for r in (
        *rule.patterns, *(t for c in rule.near for t in c.terms), *rule.unless, *rule.exceptions)}
    assert len(compiled.probe_leads) == len(regexes)  # one probe per distinct regex
    sentences = [s for d in varied_corpus(seed=2)[:60] for s in re.split(r"(?<=[.!?])\s+", d)]
    sentences += EDGE_SENTENCES
    sentences = [s for s in sentences if s and not FOLD_MISMATCH.search(s)]
    anchored = 0
    for sentence in sentences:
        scan = SentenceScan(sentence, compiled)
        for probe, (regex, lead, _key_set) in enumerate(compiled.probe_leads):
            plain = regex.search(sentence)
            assert scan.find(probe) == (plain.span() if plain else None), (regex.pattern, sentence)
            assert scan.find_all(probe) == [m.span() for m in regex.finditer(sentence)]
            anchored += lead >= 0
    assert anchored > len(sentences) * len(regexes) * 0.8  # most regexes are anchored


def test_prefilter_proposes_every_pattern_and_clause_that_matches(tmp_path):
    """Whenever a pattern or near clause matches a sentence, the prefilter lets it through
    (checked per pattern, so another pattern of the rule cannot hide it)."""
    path = tmp_path / "edge.yaml"
    path.write_text(EDGE_RULES, encoding="utf-8")
    rules = ENGLISH + load_rule_file(path)
    compiled = CompiledRules(rules)
    sentences = [s for d in varied_corpus(seed=5)[:80] for s in re.split(r"(?<=[.!?])\s+", d)]
    sentences = [s for s in sentences + EDGE_SENTENCES if s and not FOLD_MISMATCH.search(s)]
    matched = 0
    for sentence in sentences:
        proposed = {}
        for number in compiled.passing(SentenceScan(sentence, compiled)):
            rule_index, alternative, _mask = compiled.alternatives[number]
            proposed.setdefault(rule_index, set()).add(alternative)
        for index, rule in enumerate(rules):
            if rule.context:
                continue  # tried outside the prefilter, only under a heading its context names
            hits = [i for i, p in enumerate(rule.patterns) if p.search(sentence)]
            hits += [len(rule.patterns) + i for i, clause in enumerate(rule.near)
                     if _near_match(clause, sentence)]
            assert set(hits) <= set(proposed.get(index, ())), (rule.id, hits, sentence)
            matched += len(hits)
    assert matched > 200


@pytest.mark.parametrize("pattern, expected", [
    (r"\bsell", (True, (), False)),
    (r"sell", (False, ("sell",), False)),
    (r"(?<!\bnot\s)\b(?:third|outside)\s+part", (True, (), False)),
    (r"^[\W\d]*sale", (False, (), True)),
    (r"(?m)^sold", None),
    (r"[a-z]sell", None),
    (r".{0,80}\bsell", None),
])
def test_anchor_keys(pattern, expected):
    lead = anchor(re.compile(pattern, re.I))
    if expected is None:
        assert lead is None
    else:
        word_keys, other_keys, at_beginning = lead
        assert (bool(word_keys), other_keys, at_beginning) == expected


def test_fold_mismatch_lists_every_character_lower_case_cannot_stand_for():
    """Outside FOLD_MISMATCH, str.lower() keeps length and word-ness, and no non-ASCII character
    matches an ASCII word character case-insensitively: lower-case key positions are exact."""
    ascii_word = re.compile(r"[a-z0-9_]", re.I)
    word = re.compile(r"\w")
    for code in range(0x80, 0x110000):
        char = chr(code)
        lower = char.lower()
        odd = (len(lower) != 1 or ascii_word.match(char) or lower.isascii()
               or bool(word.match(char)) != bool(word.match(lower)))
        assert bool(odd) == bool(FOLD_MISMATCH.match(char)), hex(code)


def _parser_raises(pattern, flags=0):
    raise AttributeError("module 're._parser' has no attribute 'parse'")


def _parser_changed(pattern, flags=0):
    return [("A_FUTURE_OPCODE", (pattern, flags))]


@pytest.mark.parametrize("parse", [_parser_raises, _parser_changed])
def test_rules_run_plainly_when_the_private_regex_parser_fails(monkeypatch, caplog, parse):
    """Without a working re._parser there are no keys or anchors: every rule is tried on every
    sentence, and the findings are the same."""
    texts = EDGE_SENTENCES + [s for r in ENGLISH[:20] for s in r.examples["match"]]
    expected = [findings(text, RULES, fast=True) for text in texts]
    assert sum(map(len, expected)) > 20
    monkeypatch.setattr(prefilter, "sre_parse", types.SimpleNamespace(parse=parse))
    prefilter.parser_works.cache_clear()
    try:
        rules = load_rules(include_deprecated=True)
        english = [r for r in rules if r.lang == "en"]
        assert all(groups == () for rule in english for groups in rule.keys)
        assert all(lead < 0 for _regex, lead, _set in CompiledRules(english).probe_leads)
        assert [findings(text, rules, fast=True) for text in texts] == expected
        assert "re._parser is missing or changed" in caplog.text
    finally:
        prefilter.parser_works.cache_clear()  # the real parser is back after monkeypatch undoes
