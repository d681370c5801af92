"""`scanner rules eval`: scores on a small labelled file the test writes itself."""

import json

import pytest
from click.testing import CliRunner

from scanner.cli import cli
from scanner.evaluate import EvalFileError, denials_counted_as_risk, evaluate, read_labelled
from scanner.matching import load_rules

RECORDS = [
    {"id": "a", "text": "We may sell your personal information to data brokers.",
     "labels": {"sale": True, "children": False}},
    {"id": "b", "text": "We do not sell your personal information.",
     "labels": {"sale": True, "children": None}},
    {"id": "c", "text": "Contact us by email.", "labels": {"sale": False, "children": False}},
    {"id": "d", "text": "Our games are fun for everyone.", "labels": {"sale": None, "children": True}},
]


@pytest.fixture
def labelled(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n", encoding="utf-8")
    return path


def test_topic_mode_counts_denials_as_the_topic(labelled):
    result = evaluate(read_labelled(labelled), load_rules(), mode="topic", lang="en")
    sale = result.scores["sale"]
    assert (sale.tp, sale.fp, sale.fn) == (2, 0, 0)
    assert sale.f1 == 1.0


def test_practice_mode_never_counts_a_denial(labelled):
    result = evaluate(read_labelled(labelled), load_rules(), mode="practice", lang="en")
    sale = result.scores["sale"]
    assert (sale.tp, sale.fp, sale.fn) == (1, 0, 1)
    assert sale.recall == 0.5


def test_null_labels_are_left_out(labelled):
    result = evaluate(read_labelled(labelled), load_rules(), mode="topic", lang="en")
    assert result.scores["sale"].support == 2  # a and b; d is null
    children = result.scores["children"]
    assert children.tp + children.fp + children.fn + children.tn == 3  # b is null
    assert children.support == 1 and children.fn == 1  # record d names no child


def test_cli_json_format(labelled):
    result = CliRunner().invoke(cli, ["rules", "eval", str(labelled), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data["sale"]) == {"precision", "recall", "f1", "support", "tp", "fp", "fn"}
    assert data["sale"]["tp"] == 2
    practice = json.loads(CliRunner().invoke(
        cli, ["rules", "eval", str(labelled), "--mode", "practice", "--format", "json"]).output)
    assert practice["sale"]["fn"] == 1


def test_cli_text_format(labelled):
    result = CliRunner().invoke(cli, ["rules", "eval", str(labelled)])
    assert result.exit_code == 0
    assert "sale" in result.output and "precision" in result.output


def test_bad_line_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(EvalFileError, match=r"bad.jsonl:2: not valid JSON"):
        read_labelled(path)
    result = CliRunner().invoke(cli, ["rules", "eval", str(path)])
    assert result.exit_code == 2
    assert "bad.jsonl:2" in result.output


def test_negation_check_sees_denials_but_not_idioms_or_earlier_clauses():
    from scanner.evaluate import negation_governs

    assert negation_governs("We do not ")
    assert negation_governs("We will never ")
    assert negation_governs("Acme does not, and will not, ")
    assert not negation_governs("This includes but is not limited to cookies, and we ")
    assert not negation_governs("It does not identify you; however, we may ")
    assert not negation_governs("If you have not opted out, we may ")
    assert not negation_governs("Whether or not you register, we ")


def _record(record_id, policy, text, **labels):
    return {"id": record_id, "policy": policy, "text": text, "labels": labels}


LIST_RECORDS = [
    _record("p1:0", "p1", "We may disclose your personal information to:", third_party_sharing=True),
    _record("p1:1", "p1", "data brokers and list resellers;", third_party_sharing=True),
    _record("p1:2", "p1", "companies that run contests with us.", third_party_sharing=True),
    _record("p1:3", "p1", "Thank you for reading.", third_party_sharing=False),
    _record("p2:0", "p2", "Our newsletter is sent monthly.", third_party_sharing=False),
]


def test_list_items_are_judged_with_their_lead_in_as_in_a_whole_policy():
    from scanner.evaluate import judged_texts
    from scanner.text import split_sentences

    texts = judged_texts(LIST_RECORDS)
    lead = LIST_RECORDS[0]["text"]
    assert texts[1] == f"{lead}\n- data brokers and list resellers;"
    assert texts[2] == f"{lead}\n- companies that run contests with us."
    # The list ended with a full stop: the next record is read alone, so is another policy's.
    assert texts[3] == "Thank you for reading." and texts[4] == LIST_RECORDS[4]["text"]
    # The joined text is one sentence, as split_sentences reads a bulleted list in a policy.
    assert len(split_sentences(texts[1])) == 1


def test_lead_in_needs_the_same_policy_and_gives_out_after_the_joined_item_limit():
    from scanner.evaluate import judged_texts
    from scanner.text import MAX_JOINED_ITEMS

    other_policy = [LIST_RECORDS[0], dict(LIST_RECORDS[1], policy="p9")]
    assert judged_texts(other_policy)[1] == LIST_RECORDS[1]["text"]
    long_list = [LIST_RECORDS[0]] + [_record(f"p1:{i}", "p1", f"partner number {i};")
                                     for i in range(1, MAX_JOINED_ITEMS + 3)]
    texts = judged_texts(long_list)
    assert texts[MAX_JOINED_ITEMS].startswith(LIST_RECORDS[0]["text"])
    assert texts[MAX_JOINED_ITEMS + 1] == long_list[MAX_JOINED_ITEMS + 1]["text"]


def test_evaluation_in_context_finds_the_practice_a_list_item_states():
    rules = load_rules()
    alone = evaluate(LIST_RECORDS, rules, mode="topic", lang="en", in_context=False)
    joined = evaluate(LIST_RECORDS, rules, mode="topic", lang="en")
    assert joined.with_lead_in == 2 and alone.with_lead_in == 0
    assert joined.scores["third_party_sharing"].tp > alone.scores["third_party_sharing"].tp
    assert joined.scores["third_party_sharing"].fp == 0


def test_cli_no_context_judges_every_record_alone(tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in LIST_RECORDS) + "\n", encoding="utf-8")
    runs = {flag: CliRunner().invoke(cli, ["rules", "eval", str(path), "--format", "json", flag])
            for flag in ("--context", "--no-context")}
    assert all(run.exit_code == 0 for run in runs.values())
    tp = {flag: json.loads(run.output)["third_party_sharing"]["tp"] for flag, run in runs.items()}
    assert tp["--context"] > tp["--no-context"]
    text = CliRunner().invoke(cli, ["rules", "eval", str(path)]).output
    assert "2 list items judged with their lead-in" in text


def test_practice_mode_scores_practice_labels_where_a_record_has_them(tmp_path):
    denial = {"id": "x", "text": "We do not sell your personal information.",
              "labels": {"sale": True}, "practice_labels": {"sale": False}}
    path = tmp_path / "practice.jsonl"
    path.write_text(json.dumps(denial) + "\n", encoding="utf-8")
    records = read_labelled(path)
    practice = evaluate(records, load_rules(), mode="practice", lang="en").scores["sale"]
    assert (practice.tp, practice.fp, practice.fn, practice.tn) == (0, 0, 0, 1)
    topic = evaluate(records, load_rules(), mode="topic", lang="en").scores["sale"]
    assert topic.tp == 1


def test_bad_practice_labels_name_the_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "x", "labels": {}, "practice_labels": {"sale": "yes"}}) + "\n")
    with pytest.raises(EvalFileError, match=r"bad.jsonl:1: practice_labels.sale: expected true"):
        read_labelled(path)


def test_items_under_a_negative_lead_in_are_not_denials_counted_as_risk():
    rules = load_rules()
    listed = {"id": "x", "text": "We will not share your information unless:\n"
              "- with service providers who host our servers;\n- when the law requires it.",
              "labels": {"third_party_sharing": True}}
    denied = {"id": "y", "text": "We will not ever share your information with advertisers.",
              "labels": {"third_party_sharing": False}}
    assert denials_counted_as_risk([listed], rules, lang="en") == []
    assert evaluate([listed], rules, mode="practice", lang="en").scores[
        "third_party_sharing"].tp == 1
    assert evaluate([denied], rules, mode="practice", lang="en").scores[
        "third_party_sharing"].fp == 0


def test_a_denial_lifted_by_consent_is_a_practice_not_a_denial_counted_as_risk():
    rules = load_rules()
    record = {"id": "c", "text": "We will not show you personalised ads unless you consent.",
              "labels": {"behavioral_ads": True}}
    assert evaluate([record], rules, mode="practice", lang="en").scores["behavioral_ads"].tp == 1
    assert denials_counted_as_risk([record], rules, lang="en") == []


def test_a_thai_denial_a_rule_reads_as_risk_is_counted(tmp_path):
    # A Thai finding's matched phrase is its whole clause, so the English check (a negation before
    # the phrase) could never fire on Thai: the Thai check reads the label and a Thai negation.
    (tmp_path / "th").mkdir()
    naive = tmp_path / "th" / "naive.yaml"  # a rule's language is its folder's
    naive.write_text(
        "description: a sale rule with no unless, to be fooled by a denial\n"
        "rules:\n"
        "  - id: sale.th-naive\n"
        "    category: sale\n"
        "    severity: high\n"
        "    polarity: risk\n"
        "    status: experimental\n"
        "    patterns: ['ขาย']\n"
        "    references: ['PDPA s.19']\n"
        "    examples: {match: ['เราขายข้อมูล', 'บริษัทขายรายชื่อ'], no_match: ['เราเก็บข้อมูล', 'เราใช้ข้อมูล']}\n",
        encoding="utf-8")
    rules = load_rules([naive])
    denial = {"id": "d", "text": "เราจะไม่ขายข้อมูลส่วนบุคคลของท่านให้แก่บุคคลภายนอก",
              "labels": {"sale": False}}
    stated = {"id": "s", "text": "เราอาจขายข้อมูลส่วนบุคคลของท่านให้แก่บุคคลภายนอก",
              "labels": {"sale": True}}
    assert [bad[:2] for bad in denials_counted_as_risk([denial], rules, lang="th")] == [
        ("d", "sale.th-naive")]
    assert denials_counted_as_risk([stated], rules, lang="th") == []
    assert denials_counted_as_risk([denial], load_rules(), lang="th") == []
