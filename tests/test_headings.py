"""Policies as documents with sections: the outline extracted from HTML, Markdown and PDF, each
sentence's heading path (stored in `sentences`), rules with `context:`, and titles never risks."""

import io
import json

import pytest

from helpers import invoke
from scanner import store
from scanner.demo.pdf import text_to_pdf
from scanner.engine import classify, example_problems
from scanner.extract import extract_document
from scanner.matching import RuleError, load_rule_file, load_rules
from scanner.schema import index_sentences, migrations
from scanner.sentences import Heading, sentence_heading_paths, text_headings

RULES = load_rules()

POLICY_HTML = b"""<html><head><title>Kids Club</title></head><body>
<nav><a href="/">Home</a> <a href="/games">Games</a></nav>
<main>
<h1>Kids Club Privacy Policy</h1>
<p>This policy says what we do with information.</p>
<h2>Information we collect</h2>
<p>We collect a nickname and an avatar.</p>
<p><strong>Device data</strong></p>
<p>We collect the device model.</p>
<h2>California privacy notice</h2>
<h3>Categories of personal information we have sold</h3>
<ul><li>Identifiers</li><li>Internet or other electronic network activity information</li></ul>
<h3>Categories of personal information we collect</h3>
<ul><li>Geolocation data</li></ul>
<p>3. How we share</p>
<p>We share the nickname with the game host.</p>
<p><b>Children's Privacy.</b> If you think we hold information about your child, write to us.</p>
<p>Write to help@kidsclub.example with any question.</p>
<h2>How we sell your information</h2>
<p>See the California privacy notice above.</p>
</main></body></html>"""


def paths_by_sentence(extracted):
    text = extracted.text
    return {text[s:e]: path for s, e, path in sentence_heading_paths(text, extracted.headings)}


def risks(findings):
    return [(f.category, f.evidence) for f in findings if f.polarity == "risk"]


# ---------------------------------------------------------------- extraction


def test_html_outline_gives_each_sentence_its_heading_path():
    extracted = extract_document(POLICY_HTML, "text/html; charset=utf-8", "http://127.0.0.1/p")
    titles = [(h.level, h.title) for h in extracted.headings]
    assert titles == [
        (1, "Kids Club Privacy Policy"), (2, "Information we collect"), (10, "Device data"),
        (2, "California privacy notice"), (3, "Categories of personal information we have sold"),
        (3, "Categories of personal information we collect"), (7, "3. How we share"),
        (11, "Children's Privacy"), (2, "How we sell your information"),
    ]
    for heading in extracted.headings:  # offsets point at the title in the text
        assert extracted.text[heading.start:heading.end].rstrip(".") == heading.title
    paths = paths_by_sentence(extracted)
    assert paths["This policy says what we do with information."] == "Kids Club Privacy Policy"
    assert paths["We collect the device model."] == \
        "Kids Club Privacy Policy > Information we collect > Device data"
    assert paths["- Identifiers"] == ("Kids Club Privacy Policy > California privacy notice > "
                                      "Categories of personal information we have sold")
    assert paths["- Geolocation data"].endswith("> Categories of personal information we collect")
    # a bold lead-in heads its own paragraph only
    assert paths["If you think we hold information about your child, write to us."].endswith(
        "> 3. How we share > Children's Privacy")
    assert paths["Write to help@kidsclub.example with any question."].endswith("> 3. How we share")
    # a title's own path is that of its parents
    assert paths["Information we collect"] == "Kids Club Privacy Policy"


def test_markdown_headings_in_markdown_and_plain_text():
    body = ("# Privacy Policy\n\nWe run a quiz site.\n\n## Children's privacy\n\n"
            "We collect a first name only.\n\n### Parental review ###\n\nParents may review it.\n\n"
            "## Contact\n\nWrite to us.\n").encode()
    for content_type in ("text/markdown; charset=utf-8", "text/plain"):
        extracted = extract_document(body, content_type, "http://127.0.0.1/privacy.md")
        assert [(h.level, h.title) for h in extracted.headings] == [
            (1, "Privacy Policy"), (2, "Children's privacy"), (3, "Parental review"), (2, "Contact")]
        paths = paths_by_sentence(extracted)
        assert paths["We collect a first name only."] == "Privacy Policy > Children's privacy"
        assert paths["Parents may review it."] == \
            "Privacy Policy > Children's privacy > Parental review"
        assert paths["Write to us."] == "Privacy Policy > Contact"


def test_plain_text_title_lines_but_not_list_items():
    text = ("PRIVACY POLICY\nWe run a site.\n2. How we share\nWe share with hosts.\n"
            "We collect:\n- Name\n- Email Address\n4. We may sell data to partners\n")
    titles = [h.title for h in text_headings(text)]
    assert titles == ["PRIVACY POLICY", "2. How we share"]  # bullets and statements are not titles


def _pdf_with_outline(source: str, bookmarks: list[str]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_to_pdf(source, title="Quiz"))))
    parent = writer.add_outline_item(title=bookmarks[0], page_number=0)
    for title in bookmarks[1:]:
        writer.add_outline_item(title=title, page_number=0, parent=parent)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PDF_SOURCE = ("Quiz Time privacy notice\n\nWe make quizzes for schools.\n\n"
              "Information from students\n\nWe collect a class code and a first name.\n\n"
              "Categories of personal information we have sold\n\nIdentifiers\n")


def test_pdf_bookmarks_are_the_outline():
    body = _pdf_with_outline(PDF_SOURCE, ["Quiz Time privacy notice", "Information from students",
                                          "Categories of personal information we have sold"])
    extracted = extract_document(body, "application/pdf", "http://127.0.0.1/p.pdf")
    assert [(h.level, h.title) for h in extracted.headings] == [
        (1, "Quiz Time privacy notice"), (2, "Information from students"),
        (2, "Categories of personal information we have sold")]
    paths = paths_by_sentence(extracted)
    assert paths["We collect a class code and a first name."] == \
        "Quiz Time privacy notice > Information from students"
    findings = classify(extracted.text, RULES, lang="en", headings=extracted.headings)
    assert ("sale", "Identifiers") in risks(findings)


def test_pdf_without_bookmarks_uses_title_lines():
    extracted = extract_document(text_to_pdf("PRIVACY NOTICE\n\nWe make quizzes.\n"),
                                 "application/pdf", "http://127.0.0.1/p.pdf")
    assert [h.title for h in extracted.headings] == ["PRIVACY NOTICE"]


# ---------------------------------------------------------------- rules and findings


def test_list_item_under_sold_heading_is_a_sale_and_titles_are_never_risks():
    extracted = extract_document(POLICY_HTML, "text/html", "http://127.0.0.1/p")
    findings = classify(extracted.text, RULES, lang="en", headings=extracted.headings)
    found = risks(findings)
    assert ("sale", "- Identifiers") in found
    assert ("sale", "- Internet or other electronic network activity information") in found
    # the same item under a heading of what is collected is no sale
    assert not [e for c, e in found if c == "sale" and "Geolocation" in e]
    titles = {extracted.text[h.start:h.end] for h in extracted.headings}
    assert not [f for f in findings if f.polarity == "risk" and f.evidence in titles]
    sold = [f for f in findings if f.evidence == "How we sell your information"]
    assert all(f.polarity != "risk" for f in sold)
    assert "sale.personal-data.heading" in {f.rule_id for f in sold}  # the risk rule, made neutral
    by_heading = {f.evidence: f.heading for f in findings if f.rule_id == "sale.listed-under-sold-heading"}
    assert by_heading["- Identifiers"].endswith("Categories of personal information we have sold")


def test_sentence_under_childrens_heading_is_about_children():
    extracted = extract_document(POLICY_HTML, "text/html", "http://127.0.0.1/p")
    findings = classify(extracted.text, RULES, lang="en", headings=extracted.headings)
    children = {f.evidence for f in findings if f.rule_id == "children.under-children-heading"}
    assert children == {"If you think we hold information about your child, write to us."}
    # not the whole policy because its own title names kids
    assert "This policy says what we do with information." not in children


def test_the_same_item_without_its_heading_is_no_sale():
    assert not [f for f in classify("- Identifiers", RULES, lang="en") if f.category == "sale"]
    under = classify("- Identifiers", RULES, lang="en",
                     section="Categories of Personal Information We Have Sold")
    assert ("sale", "- Identifiers") in risks(under)
    denied = classify("- Identifiers: No", RULES, lang="en",
                      section="Categories of Personal Information We Have Sold")
    assert not [f for f in denied if f.category == "sale" and f.polarity == "risk"]


def test_fast_and_plain_paths_agree_under_headings():
    extracted = extract_document(POLICY_HTML, "text/html", "http://127.0.0.1/p")
    fast = classify(extracted.text, RULES, lang="en", headings=extracted.headings)
    plain = classify(extracted.text, RULES, lang="en", headings=extracted.headings, fast=False)
    assert fast == plain


# ---------------------------------------------------------------- rule schema


CONTEXT_RULE = """\
description: "A rule file written by the tests."
rules:
  - id: sale.listed
    category: sale
    severity: high
    polarity: risk
    status: experimental
    context: ['\\bsold\\b[^>]*$']
    patterns: ['^\\W*identifiers\\b']
    unless: ['{NEG}']
    examples:
      match:
        - {text: "- Identifiers", heading: "Data We Sold"}
        - {text: "Identifiers (name, email)", heading: "Notice > Categories Sold"}
      no_match:
        - {text: "- Identifiers such as name", heading: "Data We Collect"}
        - "We do not sell identifiers."
    references: ["CCPA 1798.115"]
"""


def write_rule(tmp_path, text):
    folder = tmp_path / "en"
    folder.mkdir(exist_ok=True)
    path = folder / "sale.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_context_rule_loads_and_its_examples_run_under_their_headings(tmp_path):
    [rule] = load_rule_file(write_rule(tmp_path, CONTEXT_RULE))
    assert rule.examples["match"] == ["- Identifiers", "Identifiers (name, email)"]
    assert rule.example_headings["- Identifiers"] == "Data We Sold"
    assert example_problems(rule) == []
    wrong = CONTEXT_RULE.replace('heading: "Data We Sold"', 'heading: "Data We Keep"')
    [rule] = load_rule_file(write_rule(tmp_path, wrong))
    assert example_problems(rule) == [
        f"{tmp_path / 'en' / 'sale.yaml'}: rule sale.listed: examples.match: does not match under "
        "'Data We Keep': '- Identifiers'"]


@pytest.mark.parametrize("old, new, field", [
    ("context: ['\\bsold\\b[^>]*$']", "context: ['(sold']", "context[0]: bad regex"),
    ("context: ['\\bsold\\b[^>]*$']", "context: '\\\\bsold'", "context: expected a list"),
    ("context: ['\\bsold\\b[^>]*$']", "context: []", "context: expected a list of at least one"),
    ("context: ['\\bsold\\b[^>]*$']", "context: ['{SOLDX}']", "context[0]: {SOLDX}: neither"),
    ("    context: ['\\bsold\\b[^>]*$']\n", "", "heading: only a rule with context: uses it"),
    ('heading: "Data We Collect"}', 'title: "Data We Collect"}', "expected a sentence, or {text"),
    ('{text: "- Identifiers such as name", heading: "Data We Collect"}',
     '{text: "- Identifiers", heading: "Data We Sold"}', "in match and in no_match"),
])
def test_context_schema_errors_name_file_rule_and_field(tmp_path, old, new, field):
    assert old in CONTEXT_RULE, old
    path = write_rule(tmp_path, CONTEXT_RULE.replace(old, new))
    with pytest.raises(RuleError) as error:
        load_rule_file(path)
    message = str(error.value)
    assert str(path) in message and "sale.listed" in message and field in message, message
    assert "\n" not in message


def test_rules_check_cli_reports_a_bad_context(tmp_path):
    path = write_rule(tmp_path, CONTEXT_RULE.replace("context: ['\\bsold\\b[^>]*$']",
                                                     "context: ['(sold']"))
    result = invoke("rules", "check", path)
    assert result.exit_code != 0 and f"{path}: rule sale.listed: context[0]: bad regex" in result.output


def test_context_changes_the_rule_version(tmp_path):
    [one] = load_rule_file(write_rule(tmp_path, CONTEXT_RULE))
    [two] = load_rule_file(write_rule(tmp_path, CONTEXT_RULE.replace("\\bsold", "\\bsell")))
    assert one.version != two.version


# ---------------------------------------------------------------- eval and store


def test_rules_eval_uses_a_records_heading(tmp_path):
    labelled = tmp_path / "labelled.jsonl"
    records = [{"id": "a", "text": "- Identifiers", "labels": {"sale": True},
                "heading": "CCPA > Categories of personal information we have sold"},
               {"id": "b", "text": "- Identifiers", "labels": {"sale": False}}]
    labelled.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    result = invoke("rules", "eval", labelled, "--mode", "practice", "--format", "json")
    assert result.exit_code == 0, result.output
    sale = json.loads(result.output)["sale"]
    assert (sale["tp"], sale["fp"], sale["fn"]) == (1, 0, 0)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "labels": {}, "heading": ["A"]}) + "\n", encoding="utf-8")
    result = invoke("rules", "eval", bad)
    assert result.exit_code != 0 and f"{bad}:1: heading" in result.output


def test_sentences_store_heading_paths(tmp_path):
    db = store.open_db(tmp_path / "scan.db")
    db["scans"].insert({"id": 1, "started_at": "2026-01-01T00:00:00+00:00", "status": "running"})
    extracted = extract_document(POLICY_HTML, "text/html", "http://127.0.0.1/p")
    document_id, _ = store.store_document(
        db, text=extracted.text, content_type="text/html", lang="en", title="", scan_id=1,
        url="http://127.0.0.1/p", headings=extracted.headings)
    rows = {r["text"]: r for r in db.query("SELECT text, heading, is_heading FROM sentences "
                                           "WHERE document_id = ?", [document_id])}
    assert rows["- Identifiers"]["heading"].endswith("> Categories of personal information we have sold")
    assert rows["Device data"]["is_heading"] == 1 and rows["- Identifiers"]["is_heading"] == 0
    stored = json.loads(db["documents"].get(document_id)["headings"])
    assert [Heading(*h) for h in stored] == extracted.headings


def test_m014_fills_heading_paths_of_older_documents(tmp_path):
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="m014_sentence_headings")  # a database made before m014
    assert "heading" not in db["sentences"].columns_dict
    db["documents"].insert({"id": 1, "sha256": "x", "text": "# Privacy\n\n## Kids\n\nWe ask a name.",
                            "lang": "en"})
    index_sentences(db)
    migrations.apply(db)
    rows = list(db.query("SELECT text, heading, is_heading FROM sentences ORDER BY n"))
    assert rows[-1] == {"text": "We ask a name.", "heading": "Privacy > Kids", "is_heading": 0}
    assert rows[0]["is_heading"] == 1


def test_pipeline_document_findings_use_the_extracted_outline():
    from scanner.store_writer import document_findings

    body = (b"<main><h2>Your California rights</h2><p><b>Categories of personal information we "
            b"have sold</b></p><p>Identifiers</p><p>Commercial information</p></main>")
    extracted = extract_document(body, "text/html", "http://127.0.0.1/ccpa")
    with_outline = document_findings(-1, extracted.text, "en", tuple(extracted.headings))
    assert ("sale", "Identifiers") in risks(with_outline)
    title = "Categories of personal information we have sold"
    assert not [f for f in with_outline if f.evidence == title and f.polarity == "risk"]
    # without the outline the bold title is not known: its items are no sale, and the title is
    # judged as a sentence
    plain = document_findings(-2, extracted.text, "en", ())
    assert not [f for f in plain if f.category == "sale" and f.evidence != title]


def test_titles_are_placed_where_rendered_not_at_a_table_of_contents():
    body = (b"<main><h1> Privacy  Policy </h1><p><a href='#a'>Information we collect</a></p>"
            b"<p><a href='#b'>Children's privacy</a></p><h2 id='a'>\n  Information we collect</h2>"
            b"<p>We collect a nickname.</p><h2 id='b'><div>Children's privacy</div></h2>"
            b"<p> <strong>Parents.</strong> A parent may review it.</p><p>We keep it a year.</p>"
            b"<div role='heading' aria-level='3'>Contact <em>us</em></div><p>Write to us.</p></main>")
    extracted = extract_document(body, "text/html", "http://127.0.0.1/p")
    text = extracted.text
    assert "\ufdd0" not in text
    toc = text.index("Information we collect")  # the table of contents comes first
    placed = {h.title: h for h in extracted.headings}
    assert placed["Information we collect"].start > toc
    assert placed["Children's privacy"].start == text.index("Children's privacy", toc + 30)
    assert (placed["Parents"].level, text[placed["Parents"].start:placed["Parents"].end]) == (11, "Parents.")
    assert placed["Contact us"].level == 3
    paths = paths_by_sentence(extracted)
    assert paths["A parent may review it."] == "Privacy Policy > Children's privacy > Parents"
    assert paths["We keep it a year."] == "Privacy Policy > Children's privacy"
    assert paths["Write to us."] == "Privacy Policy > Children's privacy > Contact us"


def test_markdown_underlined_titles_and_markup():
    text = ("Privacy Policy\n==============\n\nWe run a site.\n\nWhat we collect\n---------------\n\n"
            "We collect a name.\n\n## **Children's** [privacy](#kids)\n\nWe ask a parent.\n\n"
            "A paragraph ends here.\n----\nLast line.\n")
    assert [(h.level, h.title) for h in text_headings(text)] == [
        (1, "Privacy Policy"), (2, "What we collect"), (2, "Children's privacy")]
    paths = {text[s:e]: p for s, e, p in sentence_heading_paths(text)}
    assert paths["We collect a name."] == "Privacy Policy > What we collect"
    assert paths["Last line."] == "Privacy Policy > Children's privacy"  # a rule under prose
