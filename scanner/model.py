"""A learned sentence model beside the policy rules (issue 14): a logistic regression per
category over a sentence's words and word pairs, its heading path's words and the rules that
fired on it, trained by bench/train_model.py and read here from a committed weights file
(rules/model/<lang>.json: feature weights, a threshold per category, provenance; no text).

It suggests a finding (`model.<category>`, severity info: no points in the score) only where the
rules have no finding of that category in the sentence, never where a negation governs the
strongest feature (as scanner.evaluate.negation_governs reads a denial), and only for the
categories the file enables: those where grouped cross-validation showed a gain. engine.classify
calls `add_findings` when it is given a model (pipelines and the accuracy bench pass one).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from scanner.evaluate import negation_governs
from scanner.paths import RULES_DIR
from scanner.rule_schema import Finding

MODEL_DIR = RULES_DIR / "model"
RULE_PREFIX = "model."
PRACTICE = "suggested by the statistical model"
SEVERITY = "info"  # scores nothing (scanner/scoring.py SEVERITY_POINTS)
TOKEN = re.compile(r"[a-z0-9]+")
APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})
MIN_WORDS = 4  # shorter sentences (titles, fragments) are not scored
# The cheap check: a sentence is scored only when it has one of the TRIGGER_WORDS words of
# heaviest positive weight of some enabled category (scoring every sentence cost a quarter of
# the rules' throughput). bench/train_model.py's CV goes through the same check; 60 had the
# best CV of 20, 60, 200 and every sentence (docs/accuracy.md).
TRIGGER_WORDS = 60
TOP_FEATURES = 3  # features named in a finding's explanation
# Never suggested, whatever a weights file says: a false sale allegation is the worst error.
NEVER_SUGGESTED = frozenset({"sale"})


class ModelFileError(ValueError):
    """A weights file that cannot be read; the message names the file."""


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens ("don't" -> "don", "t")."""
    return TOKEN.findall(text.lower())


def features(sentence: str, heading: str = "", fired=(), words=None) -> list[str]:
    """The sentence's feature names (binary): w:<word>, b:<word> <word>, h:<heading word>, and
    per rule finding in it r:<category>:<polarity> and rule:<rule id>. fired: (rule id,
    category, polarity) of the rules' findings in the sentence; words: its tokens, if known."""
    words = tokens(sentence) if words is None else words
    out = {"w:" + w for w in words}
    out.update(f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False))
    out.update("h:" + w for w in tokens(heading))
    for rule_id, category, polarity in fired:
        out.add(f"r:{category}:{polarity}")
        out.add("rule:" + rule_id)
    return sorted(out)


def _probability(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass
class CategoryModel:
    category: str
    bias: float
    weights: dict  # feature name -> weight
    threshold: float

    def __post_init__(self):
        # The same weights for scoring without building feature names: words, word pairs
        # (first word -> second word -> weight) and the rest by name.
        self.words, self.pairs, self.others = {}, {}, {}
        for name, weight in self.weights.items():
            kind, _, value = name.partition(":")
            if kind == "w":
                self.words[value] = weight
            elif kind == "b" and " " in value:
                first, second = value.split(" ", 1)
                self.pairs.setdefault(first, {})[second] = weight
            else:
                self.others[name] = weight

    def score(self, names) -> float:
        """The probability that the sentence with these features states the category."""
        return _probability(self.bias + sum(self.weights.get(n, 0.0) for n in names))

    def quick_score(self, words: set, pairs: set, others) -> float:
        """score() of the features of these distinct words, word pairs and other names."""
        z = self.bias + sum(self.words.get(w, 0.0) for w in words)
        for first, second in pairs:
            seconds = self.pairs.get(first)
            if seconds:
                z += seconds.get(second, 0.0)
        return _probability(z + sum(self.others.get(n, 0.0) for n in others))

    def top(self, names, count: int = TOP_FEATURES) -> list[tuple[str, float]]:
        """The positive features of the sentence that weigh most, heaviest first."""
        weighed = [(n, self.weights[n]) for n in names if self.weights.get(n, 0.0) > 0]
        return sorted(weighed, key=lambda nw: (-nw[1], nw[0]))[:count]


@dataclass
class Model:
    lang: str
    version: str  # sha256 of the weights file, first 12 hex digits
    categories: dict  # category -> CategoryModel, the enabled ones only

    def __post_init__(self):
        self.triggers = frozenset(
            name[2:] for model in self.categories.values()
            for name, _ in sorted(((n, w) for n, w in model.weights.items()
                                   if n.startswith("w:") and w > 0),
                                  key=lambda nw: (-nw[1], nw[0]))[:TRIGGER_WORDS])

    def sentence_findings(self, text: str, start: int, end: int, heading: str,
                          findings: list) -> list[Finding]:
        """Model findings of the sentence text[start:end]; findings: the rules' in it."""
        missing = [c for c in self.categories if not any(f.category == c for f in findings)]
        if not missing:
            return []
        sentence = text[start:end]
        words = tokens(sentence)
        if len(words) < MIN_WORDS or self.triggers.isdisjoint(words):
            return []
        distinct, pairs = set(words), set(zip(words, words[1:], strict=False))
        others = _heading_names(heading) + tuple(
            name for f in findings for name in (f"r:{f.category}:{f.polarity}", "rule:" + f.rule_id))
        out = []
        for category in missing:
            model = self.categories[category]
            probability = model.quick_score(distinct, pairs, set(others))
            if probability < model.threshold:
                continue
            top = model.top(features(
                sentence, heading, ((f.rule_id, f.category, f.polarity) for f in findings), words))
            span = _phrase_span(sentence, top)
            if span is not None and negation_governs(sentence[:span[0]]):
                continue  # "we do not show you ads based on ...": a denial, never a risk
            explained = ", ".join(f"'{n.split(':', 1)[1]}' {w:+.2f}" for n, w in top)
            match = (start + span[0], start + span[1]) if span else (None, None)
            out.append(Finding(
                RULE_PREFIX + category, category, f"{PRACTICE} (p={probability:.2f}; {explained})",
                SEVERITY, "risk", [], sentence, start, end, *match, "experimental", heading))
        return out

    def add_findings(self, text: str, sentences: list[tuple[int, int, str]],
                     findings: list[Finding]) -> list[Finding]:
        """The rules' findings of text plus the model's, each sentence's after its rules'.
        sentences: (start, end, heading path) of each sentence that is not a title."""
        by_start: dict[int, list] = {}
        for finding in findings:
            by_start.setdefault(finding.start, []).append(finding)
        added = []
        for start, end, heading in sentences:
            added.extend(self.sentence_findings(text, start, end, heading, by_start.get(start, [])))
        if not added:
            return findings
        return sorted(findings + added, key=lambda f: f.start)


@functools.lru_cache(maxsize=1024)
def _heading_names(heading: str) -> tuple:
    """The h: features of a heading path (the sentences of a section share one)."""
    return tuple(dict.fromkeys("h:" + w for w in tokens(heading)))


def _phrase_span(sentence: str, top: list[tuple[str, float]]) -> tuple[int, int] | None:
    """Where the heaviest word or word pair among the sentence's features is in it (the
    finding's matched phrase, which a negation before it denies)."""
    for name, _ in top:
        kind, value = name.split(":", 1)
        if kind not in ("w", "b"):
            continue
        words = value.split(" ")
        found = re.search(r"\b" + r"\W+".join(map(re.escape, words)) + r"\b",
                          sentence.translate(APOSTROPHES), re.I)
        if found:
            return found.span()
    return None


def read_model(path: Path, every: bool = False) -> Model:
    """The model of a weights file (bench/train_model.py writes it): its enabled categories, or
    every category it has weights for (every=True, for measuring)."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
        categories = {
            category: CategoryModel(category, float(spec["bias"]), dict(spec["weights"]),
                                    float(spec["threshold"]))
            for category, spec in data["categories"].items()
            if category not in NEVER_SUGGESTED and (every or spec.get("enabled"))}
        return Model(data["lang"], hashlib.sha256(raw).hexdigest()[:12], categories)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"{path}: not a model weights file: {exc}") from None


@functools.lru_cache(maxsize=4)
def load_model(lang: str, root: Path = MODEL_DIR) -> Model | None:
    """The committed model of a language, or None when there is none or it enables nothing."""
    path = Path(root) / f"{lang}.json"
    if not path.exists():
        return None
    model = read_model(path)
    return model if model.categories else None


def model_version(lang: str = "en") -> str:
    """What the model's findings depend on: the weights file's hash, or 'none'."""
    model = load_model(lang)
    return model.version if model else "none"
