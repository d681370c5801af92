"""Negation and exceptions act on their own clause (issue 14): a denial stays a denial when
markup or an aside sits between the negation and its verb, and a practice stated next to a
denial, in a clause of its own, stays a practice. Sentences are our own wording, in the forms
real policies use (bench/denials.py lists the cases the benchmark counts)."""

from pathlib import Path

import pytest

from scanner.engine import clause_starts, denies, matching_form, match_sentence
from scanner.matching import classify, load_rules
from scanner.rule_schema import parse_rule

RULES = load_rules()


def polarities(text: str, category: str, fast: bool = True) -> set[str]:
    return {f.polarity for f in classify(text, RULES, lang="en", fast=fast)
            if f.category == category}


def test_emphasis_marks_are_blanked_offsets_kept():
    sentence = "We **do not** sell _your_ data; see user_id and * bullets."
    form = matching_form(sentence)
    assert len(form) == len(sentence)
    assert form == "We   do not   sell  your  data; see user_id and * bullets."


def test_an_aside_after_a_negation_is_blanked_but_not_an_exception():
    assert matching_form("We do not need to (or want to) sell it.") == \
        "We do not need to              sell it."
    kept = "We do not (except as below) sell it; we collect (or may collect) your email."
    assert matching_form(kept) == kept


@pytest.mark.parametrize("sentence", [
    "We **do not** share, sell, rent, or trade your personal information with third parties.",
    "We do not need to (or want to) sell your information.",
    "We _never_ sell your personal information.",
    "We do not (and will not) sell your personal information.",
    "We do not and will not sell your personal information.",
])
@pytest.mark.parametrize("fast", [True, False])
def test_a_denial_stays_a_denial(sentence, fast):
    found = polarities(sentence, "sale", fast)
    assert "protective" in found and "risk" not in found


@pytest.mark.parametrize("sentence", [
    "We **may sell** your personal information to data brokers.",
    "**Not** every page has ads; we may sell your personal information to data brokers.",
])
def test_a_practice_with_markup_stays_a_practice(sentence):
    assert "risk" in polarities(sentence, "sale")


@pytest.mark.parametrize("sentence", [
    "We do not sell your data and may share it with service providers.",
    "We never sell your data and may share it with our advertising partners.",
    "We do not rent your information and will only share it with service providers.",
    "We do not sell your data, we share it with advertisers.",
])
@pytest.mark.parametrize("fast", [True, False])
def test_a_practice_next_to_a_denial_stays_a_practice(sentence, fast):
    assert "risk" in polarities(sentence, "third_party_sharing", fast)
    assert "risk" not in polarities(sentence, "sale", fast)


def test_a_new_verb_phrase_with_its_modal_opens_a_clause():
    sentence = "We do not sell your data and may share it."
    assert clause_starts(sentence) == [sentence.index("may")]
    assert clause_starts("We do not and will not sell it.") == []
    # a comma before a new subject: the subject opens the new clause
    assert clause_starts("We do not sell it, we share it.") == [19]


def test_a_denial_acts_on_the_clause_it_begins_in():
    sentence = "We do not sell it, we share it."
    starts = clause_starts(sentence)
    sell, share = sentence.index("sell it"), sentence.index("share it")
    assert denies(starts, (sell, sell + 7), (3, sell + 4))
    # "do not sell it, we share" runs past the break: its negation stays in the first clause
    assert not denies(starts, (share, share + 8), (3, share + 5))
    assert denies(starts, (share, share + 8), (starts[0], share + 5))
    # a practice reaching back into the denial's clause is denied
    assert denies(starts, (sell, share + 8), (3, 9))


SALE_RULE = {
    "id": "sale.scope-test", "category": "sale", "severity": "high", "polarity": "risk",
    "status": "experimental", "patterns": [r"\bsold\b"],
    "unless": [r"{NEG}\s+{LIST}(?:be\s+)?sold"],
    "except": [r"\bopt(?:ing)?[- ]out\b", r"^(?=.*\bfor\s+example\b)"],
    "examples": {"match": ["Data may be sold.", "It is sold."],
                 "no_match": ["Data is not sold.", "It is never sold."]},
    "references": ["test"]}


@pytest.mark.parametrize(("sentence", "outcome"), [
    # an exception in another clause leaves the stated sale
    ("Your data may be sold to partners; see below to opt out.", "hit"),
    ("Your data may be sold to partners, but you can opt out.", "hit"),
    # in the same clause it cancels it
    ("Your data may be sold to partners unless you opt out.", None),
    ("To opt out of having your data sold, click here.", None),
    # an exception anchored at the start judges the whole sentence
    ("Data is sold to partners; see below, for example.", None),
    ("Your data is not sold; see below.", "denied"),
])
def test_an_exception_acts_on_its_own_clause(sentence, outcome):
    rule = parse_rule(SALE_RULE, Path("rules/policy/en/test.yaml"), "en")
    assert match_sentence(rule, sentence) == outcome
    fast = classify(sentence, [rule], lang="en")
    plain = classify(sentence, [rule], lang="en", fast=False)
    assert [f.rule_id for f in fast] == [f.rule_id for f in plain]
    assert bool(fast) == (outcome is not None)



@pytest.mark.parametrize(("before", "first", "governs"), [
    ("We do not, under any circumstances, ", "sell ", True),
    ("We **do not** ", "share ", True),
    ("We do not sell, ", "share ", True),
    # a negation in an earlier clause: before a new subject, in a table cell or bullet of its own
    ("Although we do not sell it, we ", "share ", False),
    ("Although not required to do so, ", "you ", False),
    ("To the extent we do not have a contract in place, ", "we ", False),
    ("Sold: No ||| With whom we ", "share ", False),
    ("Not for profit organisations • Regulatory authorities • ", "Law ", False),
])
def test_the_denial_count_reads_the_negation_in_its_own_clause(before, first, governs):
    from scanner.evaluate import negation_governs

    assert negation_governs(before, first) is governs


def test_the_denial_count_leaves_a_practice_after_a_denied_clause():
    from scanner.evaluate import denials_counted_as_risk

    record = {"id": "r1", "labels": {}, "text": "Although we do not sell it, we share your "
              "personal information with advertisers."}
    findings = classify(record["text"], RULES, lang="en")
    assert any(f.category == "third_party_sharing" and f.polarity == "risk" for f in findings)
    assert denials_counted_as_risk([record], RULES, lang="en") == []


def thai_polarities(text: str, category: str) -> set[str]:
    return {f.polarity for f in classify(text, RULES, lang="th") if f.category == category}


def test_a_thai_negation_far_after_the_practice_denies_a_later_verb():
    # "we record the student's name ... to create an account; ... when the process ends, the
    # student ID will not be kept": the name is collected, only the ID is not kept
    text = ("เราจะบันทึกชื่อและนามสกุลของนักเรียนเพื่อสร้างบัญชีผู้ใช้ในฐานข้อมูลของเรา "
            "แล้วใช้รหัสนักเรียนในการค้นหาหลักสูตรโดยเมื่อจบกระบวนการแล้วจะไม่มีการเก็บข้อมูลรหัสนักเรียนไว้")
    assert "risk" in thai_polarities(text, "collection")


def test_a_thai_negation_before_its_verb_stays_a_denial():
    found = thai_polarities("เราจะไม่เก็บชื่อและนามสกุลของนักเรียน", "collection")
    assert "protective" in found and "risk" not in found


def test_thai_denial_reach_counts_words_of_the_token_form():
    from scanner.engine import THAI_DENIAL_REACH, thai_denies

    form = "|เก็บ|ชื่อ|" + "คำ|" * (THAI_DENIAL_REACH + 1) + "ไม่|เก็บ|"
    practice = (0, len("|เก็บ|ชื่อ|"))
    denial = (form.index("ไม่") - 1, len(form))
    assert not thai_denies([], practice, denial, form)
    near = "|เก็บ|ชื่อ|คำ|ไม่|เก็บ|"
    assert thai_denies([], practice, (near.index("ไม่") - 1, len(near)), near)
    # a negation before the practice, as Thai puts it, always reaches it
    assert thai_denies([], (5, 12), (0, 5), form)


def test_an_exception_of_the_main_clause_covers_a_fronted_condition():
    from scanner.engine import exception_clauses

    sentence = "If you do not want targeted ads, you can set your ad preferences."
    assert exception_clauses(sentence, [33]) == []
    assert exception_clauses("We show targeted ads, you can set preferences.", [22]) == [22]


def test_a_sale_before_a_pointer_to_the_opt_out_is_stated():
    text = ("As described above, your personal information may be sold to third parties; see "
            "below for how to opt out of sales.")
    assert "risk" in polarities(text, "sale")


def test_a_colon_after_a_negation_opens_its_list():
    sentence = "Our app does not: sell or share personal data for monetary consideration."
    assert clause_starts(sentence) == []
    assert "risk" not in polarities(sentence, "sale")
