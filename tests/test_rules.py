"""The policy rules: every rule's own examples, the schema's error messages, denials, offsets."""

import re

import pytest
from click.testing import CliRunner

from helpers import invoke
from scanner.cli import cli
from scanner.engine import CONTEXTS
from scanner.matching import (RuleError, anchor, classify, example_problems, expand_macros,
                              find_match, load_rule_file, load_rules, match_sentence, rule_files,
                              vocabulary)
from scanner.rule_schema import parse_vocabulary

RULE_OK = """\
description: "A rule file written by the tests."
rules:
  - id: sale.test-rule
    category: sale
    severity: high
    polarity: risk
    status: experimental
    patterns: ['\\bsell\\b']
    unless: ['{NEG}\\s+{LIST}sell']
    examples:
      match: ["We sell data.", "They sell it."]
      no_match: ["We do not sell data.", "We never sell it."]
    references: ["CCPA 1798.120"]
"""

ALL_RULES = load_rules(include_deprecated=True)


def example_cases():
    for rule in ALL_RULES:
        for sentence in rule.examples["match"]:
            yield pytest.param(rule, sentence, "hit", id=f"{rule.id}-match-{sentence[:30]}")
        for sentence in rule.examples["no_match"]:
            yield pytest.param(rule, sentence, "no_match", id=f"{rule.id}-no_match-{sentence[:30]}")


@pytest.mark.parametrize("rule, sentence, expected", list(example_cases()))
def test_rule_examples(rule, sentence, expected):
    outcome = match_sentence(rule, sentence, rule.example_headings.get(sentence, ""))
    if expected == "hit":
        assert outcome == "hit"
    else:
        assert outcome != "hit"


def test_every_risk_rule_lists_a_denial_among_no_match():
    negation = ("not", "never", "don't", "no ", "won't")
    for rule in ALL_RULES:
        if rule.polarity == "risk" and rule.lang == "en":
            assert any(any(n in s.lower() for n in negation) for s in rule.examples["no_match"]), rule.id


def test_rule_set_covers_the_taxonomy():
    en = [r for r in ALL_RULES if r.lang == "en"]
    assert {r.category for r in en} >= {"collection", "third_party_sharing", "sale", "behavioral_ads",
                                         "tracking", "children", "user_rights", "retention", "transfer"}
    data_types = {t for r in en for t in r.data_types}
    assert data_types >= {"contact", "identifiers", "precise_location", "coarse_location", "age", "photos",
                          "audio_video", "contacts", "education", "biometrics", "health"}
    assert all(r.references and r.status in ("experimental", "stable") for r in en)


def write_rule(tmp_path, text, name="sale.yaml"):
    folder = tmp_path / "en"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, field", [
    ("    status: experimental\n", "    status: experimental\n    colour: red\n", "colour: unknown key"),
    ("severity: high", "severity: huge", "severity: 'huge' unknown"),
    ("category: sale", "category: selling", "category: 'selling' unknown"),
    ("polarity: risk", "polarity: bad", "polarity: 'bad' unknown"),
    ("status: experimental", "status: beta", "status: 'beta' unknown"),
    ("patterns: ['\\bsell\\b']", "patterns: ['(sell']", "patterns[0]: bad regex"),
    ("patterns: ['\\bsell\\b']", "patterns: '\\bsell'", "patterns: expected a list"),
    ('      no_match: ["We do not sell data.", "We never sell it."]\n', "", "examples.no_match: needs at least 2"),
    ('    references: ["CCPA 1798.120"]\n', "", "references: missing"),
])
def test_schema_errors_name_file_rule_and_field(tmp_path, old, new, field):
    assert old in RULE_OK
    path = write_rule(tmp_path, RULE_OK.replace(old, new))
    with pytest.raises(RuleError) as error:
        load_rule_file(path)
    message = str(error.value)
    assert str(path) in message and "sale.test-rule" in message and field in message
    assert "\n" not in message


def test_rules_check_cli_reports_the_broken_file(tmp_path):
    good = write_rule(tmp_path, RULE_OK, "good.yaml")
    bad = write_rule(tmp_path, RULE_OK.replace("severity: high", "severity: huge"), "bad.yaml")
    runner = CliRunner()
    ok = runner.invoke(cli, ["rules", "check", str(good)])
    assert ok.exit_code == 0 and "1 rules OK" in ok.output
    failed = runner.invoke(cli, ["rules", "check", str(bad)])
    assert failed.exit_code != 0
    assert f"{bad}: rule sale.test-rule: severity" in failed.output


def test_rules_check_cli_runs_examples(tmp_path):
    broken = RULE_OK.replace('match: ["We sell data."', 'match: ["We buy data."')
    result = invoke(*["rules", "check", str(write_rule(tmp_path, broken))])
    assert result.exit_code != 0
    assert "examples.match: does not match: 'We buy data.'" in result.output


def test_whole_rule_set_checks_clean():
    result = invoke(*["rules", "check"])
    assert result.exit_code == 0, result.output
    assert "rules OK" in result.output


RULES = load_rules()


@pytest.mark.parametrize("sentence, category", [
    ("We do not sell your personal information.", "sale"),
    ("We do not sell, rent or trade personal information.", "sale"),
    ("We never show targeted ads to children.", "behavioral_ads"),
    ("We do not share your information with data brokers.", "third_party_sharing"),
    ("We do not collect precise geolocation data.", "collection"),
])
def test_denial_is_protective_of_the_same_category(sentence, category):
    findings = [f for f in classify(sentence, RULES, lang="en") if f.category == category]
    assert findings, "a denial still discusses the topic"
    assert all(f.polarity != "risk" for f in findings)
    assert any(f.polarity == "protective" and f.rule_id.endswith(".denied") for f in findings)


def test_practice_statement_is_a_risk():
    findings = classify("We may sell your personal information to data brokers.", RULES, lang="en")
    assert {"sale.personal-data", "third_party_sharing.data-brokers"} <= {
        f.rule_id for f in findings if f.polarity == "risk"}


def test_offsets_point_at_the_sentence_and_the_match():
    text = ("Privacy Policy\n\nWe love games. We may sell your personal information to partners. "
            "Contact us.")
    findings = [f for f in classify(text, RULES, lang="en") if f.rule_id == "sale.personal-data"]
    assert len(findings) == 1
    f = findings[0]
    assert text[f.start:f.end] == f.evidence == "We may sell your personal information to partners."
    assert text[f.match_start:f.match_end].lower().startswith("sell")
    assert f.start <= f.match_start < f.match_end <= f.end


def test_proximity_needs_both_terms_within_the_window(tmp_path):
    path = write_rule(tmp_path, RULE_OK.replace(
        "    patterns: ['\\bsell\\b']\n",
        "    near:\n      - terms: ['\\bsell\\b', '\\bdata\\b']\n        within: 3\n"))
    rule = load_rule_file(path)[0]
    assert find_match(rule, "We sell the data.") is not None
    assert find_match(rule, "Data is what we sell.") is not None  # either order
    assert find_match(rule, "We sell toys, games, books, puzzles and also keep data.") is None
    assert match_sentence(rule, "We sell data.") == "hit"


def base_rule_id(finding_rule_id: str) -> str:
    """The rule's own id: without '.denied' or a context suffix ('.heading', '.rights')."""
    for suffix in ("denied", *CONTEXTS):
        if finding_rule_id.endswith("." + suffix):
            return finding_rule_id[:-len(suffix) - 1]
    return finding_rule_id


def test_prefilter_never_hides_a_match():
    """classify (with the key prefilter) finds what trying every rule on every sentence finds
    (fast=False judges each rule with match_sentence's plain searches; the sentence context,
    heading or rights notice, is applied alike to both)."""
    sentences = [s for r in RULES if r.lang == "en" for s in r.examples["match"] + r.examples["no_match"]]
    for sentence in sentences:
        fast = {(r, f.polarity) for f in classify(sentence, RULES, lang="en") for r in (f.rule_id, *f.also)}
        slow = {(r, f.polarity) for f in classify(sentence, RULES, lang="en", fast=False)
                for r in (f.rule_id, *f.also)}
        assert fast == slow, sentence
        plain = set()
        for rule in (r for r in RULES if r.lang == "en"):
            outcome = match_sentence(rule, sentence)
            if outcome == "hit" or (outcome == "denied" and rule.polarity == "risk"):
                plain.add(rule.id)
        # every rule that fires alone gives one finding (or is merged into one: `also`),
        # whatever its context suffix
        assert {base_rule_id(rule_id) for rule_id, _ in slow} == plain, sentence


def test_thai_rules_match_the_token_form():
    thai = [r for r in RULES if r.lang == "th"]
    if not thai:
        pytest.skip("no Thai rules in this checkout")
    rule = thai[0]
    sentence = rule.examples["match"][0]
    assert match_sentence(rule, sentence) == "hit"
    findings = classify(sentence, RULES, lang="th")
    assert any(f.rule_id == rule.id for f in findings)
    assert all(f.evidence == sentence for f in findings)


# --- word lists, verbose patterns, marked spans --------------------------------------------------

def test_every_vocabulary_word_list_is_named_by_a_rule_and_expands_in_place():
    words = vocabulary()
    assert set(words) == {"en", "th"} and words["en"] and words["th"]
    sources = {lang: [] for lang in words}
    for path in rule_files():
        sources[path.parent.name].append(path.read_text(encoding="utf-8"))
    for lang, entries in words.items():
        for name, fragment in entries.items():
            assert any("{%s}" % name in text for text in sources[lang]), f"{lang}.{name} unused"
            assert expand_macros("x{%s}y" % name, lang) == "x" + expand_macros(fragment, lang) + "y"


def test_a_word_list_matches_as_its_written_out_regex(tmp_path):
    sale_verb = vocabulary()["en"]["SALE_VERB"]
    named = load_rule_file(write_rule(tmp_path, RULE_OK.replace("\\bsell\\b", "\\b{SALE_VERB}\\b"),
                                      "named.yaml"))[0]
    written = load_rule_file(write_rule(tmp_path, RULE_OK.replace("\\bsell\\b", "\\b%s\\b" % sale_verb),
                                        "written.yaml"))[0]
    assert named.patterns[0].pattern == written.patterns[0].pattern
    assert named.keys == written.keys
    for sentence in ("We rent your data.", "We trade it.", "We sold it.", "We do not sell data."):
        assert match_sentence(named, sentence) == match_sentence(written, sentence)


def test_an_unknown_word_list_is_an_error_naming_the_pattern(tmp_path):
    path = write_rule(tmp_path, RULE_OK.replace("\\bsell\\b", "\\b{SALE_VERBS}\\b"))
    with pytest.raises(RuleError) as error:
        load_rule_file(path)
    assert f"{path}: rule sale.test-rule: patterns[0]: {{SALE_VERBS}}: neither a macro" in str(error.value)


@pytest.mark.parametrize("text, message", [
    ("en:\n  lower: [a, b]\n", "en.lower: a name is upper case"),
    ("en:\n  NEG: [a, b]\n", "en.NEG: already a macro"),
    ("en:\n  LOOP: 'a{LOOP}'\n", "en.LOOP: {LOOP}: refers to itself"),
    ("en:\n  EMPTY: []\n", "en.EMPTY: expected a regex string or a list"),
    ("en:\n  BAD: '(a'\n", "en.BAD: missing )"),
    ("fr:\n  A: [a]\n", "expected a mapping with the languages en and th"),
])
def test_vocabulary_errors_name_the_file_and_entry(tmp_path, text, message):
    path = tmp_path / "vocabulary.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as error:
        load_rule_file(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_word_lists_may_use_macros_and_each_other(tmp_path):
    path = tmp_path / "vocabulary.yaml"
    path.write_text("en:\n  VERB: [sell, rent]\n  DENIED_VERB: '{NEG}\\s+{VERB}'\n", encoding="utf-8")
    words = parse_vocabulary(path)["en"]
    assert words["VERB"] == "(?:sell|rent)"
    assert words["DENIED_VERB"] == "{NEG}\\s+{VERB}"  # expanded where a pattern names it


VERBOSE_RULE = r"""
rules:
  - id: sale.verbose
    category: sale
    severity: high
    polarity: risk
    status: experimental
    patterns:
      - |
        (?x)
        \b (?:we|they) \s+          # who
        (?:\w+\s+){0,2}?            # may, also
        (?:sell|rent) \b            # the practice
        (?:\s+\w+){0,3}? \s+ {DATA_NOUN} \b
    unless:
      - |
        (?x) {NEG} \s+ {LIST} (?:sell|rent)   # "no longer" keeps its space inside {NEG}
    examples:
      match: ["[[We may sell your personal data]].", "They rent data to brokers."]
      no_match: ["We no longer sell your data.", "We sell toys."]
    references: ["CCPA 1798.120"]
"""

COMPACT_PATTERN = r"\b(?:we|they)\s+(?:\w+\s+){0,2}?(?:sell|rent)\b(?:\s+\w+){0,3}?\s+{DATA_NOUN}\b"


def test_verbose_multiline_patterns_match_and_key_like_their_compact_form(tmp_path):
    verbose = load_rule_file(write_rule(tmp_path, VERBOSE_RULE, "verbose.yaml"))[0]
    compact_text = VERBOSE_RULE.replace(VERBOSE_RULE[VERBOSE_RULE.index("    patterns:"):
                                                     VERBOSE_RULE.index("    unless:")],
                                        "    patterns: ['%s']\n" % COMPACT_PATTERN)
    compact = load_rule_file(write_rule(tmp_path, compact_text, "compact.yaml"))[0]
    assert verbose.patterns[0].flags & re.X
    assert verbose.keys == compact.keys and any(verbose.keys[0])  # the prefilter has keys
    assert anchor(verbose.patterns[0]) == anchor(compact.patterns[0]) is not None
    assert example_problems(verbose) == []
    assert match_sentence(verbose, "We no longer sell your data.") == "denied"
    # macros keep their spaces in verbose mode: {NEG} still reads "no longer" as one phrase
    assert re.fullmatch(expand_macros("(?x) {NEG}"), "no longer")
    assert not re.fullmatch(expand_macros("(?x) {NEG}"), "nolonger")
    text = "We may sell your data. They will not rent data. They no longer rent any data. We sell toys."
    assert classify(text, [verbose], lang="en") == classify(text, [verbose], lang="en", fast=False)
    assert [f.polarity for f in classify(text, [verbose], lang="en")] == ["risk", "protective",
                                                                          "protective"]


def test_marked_span_is_the_match_rules_check_verifies(tmp_path):
    marked = RULE_OK.replace('match: ["We sell data."', 'match: ["We [[sell]] data."')
    rule = load_rule_file(write_rule(tmp_path, marked, "marked.yaml"))[0]
    assert rule.examples["match"][0] == "We sell data."  # marks are not part of the sentence
    assert rule.match_spans == [(3, 7), None]
    assert invoke(*["rules", "check", rule.path]).exit_code == 0
    wrong = RULE_OK.replace('match: ["We sell data."', 'match: ["We [[sell data]]."')
    result = invoke(*["rules", "check", str(write_rule(tmp_path, wrong, "wrong.yaml"))])
    assert result.exit_code != 0
    assert "examples.match: matches 'sell', not the marked 'sell data' in 'We sell data.'" in result.output


@pytest.mark.parametrize("example, message", [
    ('no_match: ["We do not [[sell]] data."', "examples.no_match: a span mark belongs in a match"),
    ('match: ["We [[sell]] [[data]]."', "examples.match: mark one non-empty [[span]]"),
    ('match: ["We [[sell data."', "examples.match: unbalanced [[ ]]"),
])
def test_span_mark_errors(tmp_path, example, message):
    key = example.split(":")[0]
    old = 'match: ["We sell data."' if key == "match" else 'no_match: ["We do not sell data."'
    path = write_rule(tmp_path, RULE_OK.replace(old, example))
    with pytest.raises(RuleError) as error:
        load_rule_file(path)
    assert f"{path}: rule sale.test-rule: {message}" in str(error.value)


def risks_and_others(text: str) -> tuple[set, set]:
    findings = classify(text, RULES, lang="en")
    return ({f.category for f in findings if f.polarity == "risk"},
            {(f.category, f.polarity, f.rule_id.rsplit(".", 1)[-1]) for f in findings
             if f.polarity != "risk"})


@pytest.mark.parametrize("heading", ["CROSS-BORDER TRANSFER", "Sale or Merger",
                                     "3. Information We Share With Advertisers"])
def test_a_heading_gives_neutral_findings_only(heading):
    risks, others = risks_and_others(heading)
    assert risks == set()
    assert others and all(polarity == "neutral" for _, polarity, _ in others)
    # the same words as a sentence of a paragraph state the practice
    assert risks_and_others("We transfer your data across borders to our servers abroad.")[0]


def test_a_negative_lead_in_makes_its_exceptions_practices():
    text = ("We will not share your information unless:\n- we have your consent;\n"
            "- with service providers who host our servers;\n- when the law requires it.")
    risks, others = risks_and_others(text)
    assert "third_party_sharing" in risks
    assert not any(polarity == "protective" for _, polarity, _ in others)
    # alone, the lead-in is neither a practice nor a denial
    risks, others = risks_and_others("We will not share your information unless:")
    assert risks == set() and not any(p == "protective" for _, p, _ in others)
    # without the exception cue the denial stands
    risks, others = risks_and_others("We will not share your information.")
    assert "third_party_sharing" not in risks
    assert ("third_party_sharing", "protective", "denied") in others


def test_a_sale_denied_in_an_exception_lead_in_stays_denied():
    text = ("We do not sell or share your personal information except as follows:\n"
            "- with service providers who process it for us;\n- in a merger.")
    risks, others = risks_and_others(text)
    assert "sale" not in risks
    assert "third_party_sharing" in risks


@pytest.mark.parametrize("sentence, context", [
    ("You have the right to know what data of yours we processed for targeted advertising.",
     "rights"),
    ("Content is tailored to your level (see Interest-Based Ads below).", "reference"),
    # (the sale rules need the operator as seller, so a definition must name "we" to fire one)
    ("“Sell” means that we sell, rent or disclose personal information to a third party for "
     "monetary or other valuable consideration.", "definition"),
])
def test_rights_references_and_definitions_state_no_practice(sentence, context):
    risks, others = risks_and_others(sentence)
    assert risks == set()
    assert any(suffix == context and polarity == "neutral" for _, polarity, suffix in others)


def test_a_definition_without_a_seller_is_no_sale():
    risks, others = risks_and_others(
        "“Sale” means selling or disclosing personal information for valuable consideration.")
    assert risks == set()
    assert others and all(polarity == "neutral" for _, polarity, _ in others)


def test_a_disclaimer_is_neutral_not_protective():
    risks, others = risks_and_others(
        "We are not responsible for these third parties, which may use cookies and show you ads.")
    assert not any(polarity == "protective" for _, polarity, _ in others)
    assert ("behavioral_ads", "neutral", "disclaimer") in others


def test_a_denial_acts_on_its_own_clause():
    risks, others = risks_and_others(
        "We may disclose your data to service providers, we do not sell it.")
    assert "third_party_sharing" in risks and "sale" not in risks
    risks, _ = risks_and_others("We do not sell your data but may share it with our partners.")
    assert "third_party_sharing" in risks and "sale" not in risks
    # within one clause the denial still governs, however long the list of verbs
    assert risks_and_others("We do not sell, rent or share your data.")[0] == set()
    assert risks_and_others("We never, under any circumstances, sell your data.")[0] == set()


@pytest.mark.parametrize("sentence", [
    "You will see personalised ads based on your activity.",
    "When you visit our partners, they may show you targeted ads.",
    "If you disable cookies, we will still show you ads tailored to your interests.",
])
def test_a_practice_near_words_of_rights_or_references_stays_a_risk(sentence):
    assert "behavioral_ads" in risks_and_others(sentence)[0]
