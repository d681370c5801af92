"""`scanner rules eval`: precision / recall / F1 of the policy rules on a labelled JSONL file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from scanner.engine import EXCEPTION_LEAD_IN
from scanner.language import detect_lang
from scanner.matching import CATEGORIES, classify, expand_macros
from scanner.sentences import MAX_JOINED_ITEMS
from scanner.thai import tokenized_form

MODES = ("topic", "practice")


class EvalFileError(ValueError):
    """A labelled file that cannot be read; the message names the file and line."""


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "support": self.support,
                "tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass
class Evaluation:
    scores: dict = field(default_factory=dict)
    records: int = 0
    with_lead_in: int = 0  # list items judged with the lead-in they follow
    errors: list = field(default_factory=list)  # (record id, category, 'fp'|'fn', text)

    def as_dict(self) -> dict:
        return {category: score.as_dict() for category, score in self.scores.items()}


def read_labelled(path: Path) -> list[dict]:
    """Records of a labelled JSONL file: each needs text and a labels mapping."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalFileError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise EvalFileError(f"{path}:{number}: expected an object with a 'text' string")
            if not isinstance(record.get("heading", ""), str):
                raise EvalFileError(f"{path}:{number}: heading: expected a string "
                                    "'Section > Subsection'")
            for key in ("labels", "practice_labels"):
                labels = record.get(key)
                if key == "practice_labels" and labels is None:
                    continue
                if not isinstance(labels, dict):
                    raise EvalFileError(f"{path}:{number}: expected a '{key}' object")
                for category, value in labels.items():
                    if value not in (True, False, None):
                        raise EvalFileError(f"{path}:{number}: {key}.{category}: expected true, "
                                            "false or null")
            records.append(record)
    return records


def predicted_categories(findings, mode: str) -> set[str]:
    """Topic: any finding of the category; practice: only findings saying it is done (risk)."""
    if mode == "practice":
        return {f.category for f in findings if f.polarity == "risk"}
    return {f.category for f in findings}


# A list item goes on while the item before it ended like one: "...;", "...,", "... and".
ITEM_GOES_ON = re.compile(r"(?:[;,]|\b(?:and|or|and/or))\s*$", re.I)


def judged_texts(records: list[dict]) -> list[str]:
    """The text to judge for each record, read as a whole policy reads.

    Labelled files cut policies into segments, and a bulleted list loses its bullets and its
    lead-in: "We use your information to:" is one record, "respond to your requests;" the next.
    In a fetched policy the items keep their bullets and split_sentences keeps them with the
    lead-in, so here an item that follows a lead-in of the same policy (records in file order)
    is judged as "lead-in" + newline + "- item", exactly as the scanner would see it.
    """
    texts, lead, items, previous = [], None, 0, None
    for record in records:
        text = record["text"].strip()
        same_policy = previous is not None and record.get("policy") is not None \
            and record.get("policy") == previous.get("policy")
        if not same_policy or items >= MAX_JOINED_ITEMS:
            lead = None
        texts.append(f"{lead}\n- {text}" if lead else record["text"])
        if text.endswith(":"):
            lead, items = text, 0
        elif lead and ITEM_GOES_ON.search(text):
            items += 1
        else:
            lead = None
        previous = record
    return texts


def evaluate(records: list[dict], rules, mode: str = "topic", lang: str = "auto",
             keep_errors: bool = False, in_context: bool = True, model=None) -> Evaluation:
    """Score each category that some record labels; null labels are left out of that category.

    Practice mode scores a record's optional `practice_labels` (is the practice stated as done?)
    where it has them, else its topic `labels`. A record's optional `heading` ("Section >
    Subsection") is the heading path its text sits under, for rules with `context:`.

    in_context: judge list items with their lead-in (judged_texts); False judges each record
    on its own text alone. model: a scanner.model.Model whose suggestions count as findings.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    result = Evaluation(records=len(records))
    texts = judged_texts(records) if in_context else [r["text"] for r in records]
    result.with_lead_in = sum(t != r["text"] for t, r in zip(texts, records, strict=True))
    for record, text in zip(records, texts, strict=True):
        findings = classify(text, rules, lang=lang, section=record.get("heading") or "",
                            model=model)
        predicted = predicted_categories(findings, mode)
        labels = record.get("practice_labels") if mode == "practice" else None
        for category, label in (labels or record["labels"]).items():
            if label is None:
                continue
            score = result.scores.setdefault(category, Score())
            guess = category in predicted
            if guess and label:
                score.tp += 1
            elif guess:
                score.fp += 1
                if keep_errors:
                    result.errors.append((record.get("id"), category, "fp", record["text"]))
            elif label:
                score.fn += 1
                if keep_errors:
                    result.errors.append((record.get("id"), category, "fn", record["text"]))
            else:
                score.tn += 1
    order = {c: i for i, c in enumerate(CATEGORIES)}
    result.scores = dict(sorted(result.scores.items(), key=lambda kv: order.get(kv[0], 99)))
    return result


# A Thai negation word (the Thai rules' own list), matched as a word of the token form.
THAI_NEGATION = re.compile(expand_macros(r"\|{NEG_WORD}\|", "th"))
NEGATION_BEFORE = re.compile(expand_macros(r"{NEG}(?:\W+[\w'-]+){0,6}\W*$"), re.I)


def denials_counted_as_risk(records: list[dict], rules, lang: str = "auto",
                            model=None) -> list[tuple]:
    """Risk findings whose matched phrase follows a negation within six words ("we do not ...
    sell"): what a regulator must never see flagged. Independent of the rules' own `unless`.

    A Thai finding's matched phrase is its whole clause, so no negation can precede it: a Thai
    risk finding counts when the clause has a Thai negation and its label for the category says
    the practice is not done (labelled false), i.e. the labeller read the negation as a denial."""
    bad = []
    for record in records:
        text = record["text"]
        thai = detect_lang(text) == "th" if lang == "auto" else lang == "th"
        for f in classify(text, rules, lang=lang, section=record.get("heading") or "",
                          model=model):
            if f.polarity != "risk" or f.match_start is None:
                continue
            if thai:
                labels = record.get("practice_labels") or record.get("labels") or {}
                if labels.get(f.category) is False and THAI_NEGATION.search(tokenized_form(f.evidence)):
                    bad.append((record.get("id"), f.rule_id, f.evidence))
                continue
            if "\n" in f.evidence and EXCEPTION_LEAD_IN.search(f.evidence.split("\n", 1)[0]):
                continue  # "We will not share it unless:" + items: the items are what is done
            if CONSENT_LIFTS.match(text, f.match_end, f.end):
                continue  # "we will not show personalised ads unless you consent": a practice
            if f.category != "sale" and EXCEPTIONS_LIFT.match(text, f.match_end, f.end):
                continue  # "we do not share it except as described below": the exceptions are done
            first = FIRST_WORD.match(text, f.match_start)
            if negation_governs(text[f.start:f.match_start], first.group() if first else ""):
                bad.append((record.get("id"), f.rule_id, f.evidence))
    return bad


# A negation in an earlier clause ("..., however we may share", "although we do not sell it,
# we share it": a comma before a new subject, as the engine cuts clauses; a table cell or bullet
# of its own: "No ||| With whom we share") or in an idiom ("including but not limited to",
# "whether or not", "if you do not opt out") does not deny what follows it.
CLAUSE_BREAK = re.compile(r"[;:.!?]\s|,\s*(?:however|but|except|unless|although|though|and)\b"
                          r"|\b(?:however|but|except|unless|although)\b"
                          r"|,\s+(?=(?:we|you|they|it|our|these|those|third[ -]part(?:y|ies)"
                          r"|partners)\s)|\|\|\||[•●|]", re.I)
NOT_A_DENIAL = re.compile(r"\bnot limited to\b|\bwhether or not\b|\bnot (?:always|only|just)\b"
                          r"|\b(?:if|unless|when|where) (?:you|users?|they|we)\s+(?:do|does|did|have|has)"
                          r"\s*(?:not|n't)\b[^,;]*,?"
                          # a fronted condition closed by its comma: "When you're not signed in, we
                          # store ...", "when the information does not identify you, we may use it"
                          r"|\b(?:if|unless|when|whenever|where|while)\b[^,;]{0,120}?"
                          r"(?:\bnot|n[’']t|\bnever)\b[^,;]*,", re.I)


# A denial lifted by the user's consent states the practice done with consent (issue 14).
# A denial with its own exceptions states the practice (issue 14), as the sharing rules read it.
EXCEPTIONS_LIFT = re.compile(r"[^.;]{0,120}\b(?:except|with\s+the\s+exception\s+of|other\s+than"
                             r"|save\s+(?:for|as)|apart\s+from)\b(?![^.;]{0,60}\b(?:consent|permission"
                             r"|agree\w*|authori[sz]ation|opt(?:ed)?[- ]in|direction|instruct\w*"
                             r"|you\s+(?:direct|request|ask|authori[sz]e|instruct)\w*)\b)", re.I)
CONSENT_LIFTS = re.compile(r"[^.;]{0,100}\b(?:unless|without|until|except\s+(?:with|where|if|when))\b"
                           r"[^.;]{0,50}\b(?:consent\w*|agree\w*|opt(?:s|ed)?[- ]in|permission)", re.I)


FIRST_WORD = re.compile(r"[\w'-]+\s")


def negation_governs(before_match: str, first_word: str = "") -> bool:
    """Whether a negation in the same clause, shortly before the matched phrase, denies it.
    first_word: the phrase's first word and the space after it, so a phrase that opens with a
    new subject ("..., we may share") starts a clause of its own."""
    clauses = CLAUSE_BREAK.split(before_match + first_word)
    last = clauses[-1] if clauses else before_match
    last = last[:len(last) - len(first_word)] if first_word and last.endswith(first_word) else last
    window = NOT_A_DENIAL.sub(" ", last)
    return bool(NEGATION_BEFORE.search(window))


def format_table(evaluation: Evaluation, title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'category':22} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8} "
                 f"{'tp':>6} {'fp':>6} {'fn':>6}")
    for category, s in evaluation.scores.items():
        lines.append(f"{category:22} {s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f} "
                     f"{s.support:8d} {s.tp:6d} {s.fp:6d} {s.fn:6d}")
    return "\n".join(lines)
