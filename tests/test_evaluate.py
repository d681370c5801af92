"""`scanner rules eval`: scores on a small labelled file the test writes itself."""

import json

import pytest
from click.testing import CliRunner

from scanner.cli import cli
from scanner.evaluate import EvalFileError, evaluate, read_labelled
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
