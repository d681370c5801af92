"""The policy rule engine: load rules/policy/**.yaml, match them per sentence, keep evidence."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from scanner.paths import POLICY_RULES_DIR, RULES_DIR
from scanner.text import detect_lang, split_sentences

CATEGORIES = ("collection", "third_party_sharing", "sale", "behavioral_ads", "tracking",
              "children", "user_rights", "retention", "transfer")
SEVERITIES = ("info", "low", "medium", "high", "critical")
POLARITIES = ("risk", "protective", "neutral")


class RuleError(ValueError):
    """A rule file that cannot be used; the message names file, rule id and field."""


@dataclass
class Rule:
    id: str
    category: str
    severity: str
    polarity: str
    patterns: list
    unless: list = field(default_factory=list)
    data_types: list = field(default_factory=list)
    examples: dict = field(default_factory=dict)
    references: list = field(default_factory=list)
    status: str = "experimental"
    lang: str = "en"
    path: str = ""

    @property
    def practice(self) -> str:
        return self.id.split(".", 1)[1] if "." in self.id else self.id


@dataclass
class Finding:
    rule_id: str
    category: str
    practice: str
    severity: str
    polarity: str
    data_types: list
    evidence: str
    start: int
    end: int


def _compile(patterns, path, rule_id, key):
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.I))
        except re.error as exc:
            raise RuleError(f"{path}: rule {rule_id}: {key}: bad regex {pattern!r}: {exc}") from None
    return compiled


def load_rule_file(path: Path) -> list[Rule]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{path}: expected a mapping with a 'rules' list")
    lang = path.parent.name if path.parent.name in ("en", "th") else "en"
    rules = []
    for raw in data["rules"]:
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        if not rule_id:
            raise RuleError(f"{path}: a rule has no id")
        for key in ("category", "severity", "polarity", "patterns"):
            if key not in raw:
                raise RuleError(f"{path}: rule {rule_id}: {key}: missing")
        if raw["category"] not in CATEGORIES:
            raise RuleError(f"{path}: rule {rule_id}: category: {raw['category']!r} unknown")
        if raw["severity"] not in SEVERITIES:
            raise RuleError(f"{path}: rule {rule_id}: severity: {raw['severity']!r} unknown")
        if raw["polarity"] not in POLARITIES:
            raise RuleError(f"{path}: rule {rule_id}: polarity: {raw['polarity']!r} unknown")
        rules.append(
            Rule(
                id=rule_id, category=raw["category"], severity=raw["severity"],
                polarity=raw["polarity"],
                patterns=_compile(raw["patterns"], path, rule_id, "patterns"),
                unless=_compile(raw.get("unless") or [], path, rule_id, "unless"),
                data_types=raw.get("data_types") or [], examples=raw.get("examples") or {},
                references=raw.get("references") or [], status=raw.get("status", "experimental"),
                lang=lang, path=str(path),
            )
        )
    return rules


def rule_files(root: Path = POLICY_RULES_DIR) -> list[Path]:
    return sorted(root.rglob("*.yaml"))


def load_rules(paths=None) -> list[Rule]:
    rules = []
    for path in paths or rule_files():
        rules.extend(load_rule_file(Path(path)))
    return rules


def rules_version(root: Path = RULES_DIR) -> str:
    """A short hash of every rule file, so each scan records which rules judged it."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.yaml")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def match_sentence(rule: Rule, sentence: str) -> str | None:
    """'hit', 'denied' or None for one rule on one sentence."""
    if rule.lang == "th":
        from scanner.thai import tokenized_form

        sentence = tokenized_form(sentence)
    if not any(p.search(sentence) for p in rule.patterns):
        return None
    if any(u.search(sentence) for u in rule.unless):
        return "denied"
    return "hit"


def classify(text: str, rules: list[Rule], lang: str = "auto") -> list[Finding]:
    if lang == "auto":
        lang = detect_lang(text)
    active = [r for r in rules if r.lang == ("th" if lang == "th" else "en")]
    findings = []
    for start, end in split_sentences(text, lang):
        sentence = text[start:end]
        for rule in active:
            outcome = match_sentence(rule, sentence)
            if outcome is None:
                continue
            if outcome == "denied" and rule.polarity != "risk":
                continue
            denied = outcome == "denied"
            findings.append(
                Finding(
                    rule_id=rule.id + (".denied" if denied else ""), category=rule.category,
                    practice=rule.practice, severity="info" if denied else rule.severity,
                    polarity="protective" if denied else rule.polarity,
                    data_types=list(rule.data_types), evidence=sentence, start=start, end=end,
                )
            )
    return findings
