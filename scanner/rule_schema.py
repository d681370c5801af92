"""Policy rule files: the schema, loading and compiling rules/policy/**.yaml, macros and the
named word lists of rules/policy/vocabulary.yaml.

Longer than 500 lines because the schema checks, the macro and word-list expansion and the
compiled-rules cache all read and write the same Rule fields, and are kept beside them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from scanner.paths import POLICY_RULES_DIR, RULES_DIR
from scanner.prefilter import parser_works, rule_keys, rule_probe_keys

CATEGORIES = ("collection", "third_party_sharing", "sale", "behavioral_ads", "tracking",
              "children", "user_rights", "retention", "transfer")
SEVERITIES = ("info", "low", "medium", "high", "critical")
POLARITIES = ("risk", "protective", "neutral")
STATUSES = ("experimental", "stable", "deprecated")
DATA_TYPES = ("contact", "identifiers", "location", "precise_location", "coarse_location", "age",
              "photos", "audio_video", "contacts", "education", "biometrics", "health",
              "financial", "usage", "device", "profile", "user_content", "personal_data")
RULE_KEYS = {"id", "category", "severity", "polarity", "status", "data_types", "patterns", "near",
             "unless", "except", "context", "examples", "references", "description"}
FILE_KEYS = {"rules", "description"}
REQUIRED_KEYS = ("id", "category", "severity", "polarity", "status", "examples", "references")
RULE_ID = re.compile(r"^[a-z_]+\.[a-z0-9_.-]+$")
NEAR_DEFAULT_WORDS = 12
LANGS = ("en", "th")

# Shorthands usable inside any pattern; they keep negation and word gaps consistent across rules.
MACROS = {
    # A negation word or phrase: "do not", "never", "will not", "won't", "no longer", ...
    "{NEG}": r"(?:\b(?:do|does|did|will|would|shall|should|may|must|can|could|is|are|was|were"
             r"|has|have)\s+(?:not|never)\b|\b(?:don't|doesn't|didn't|won't|wouldn't|shan't"
             r"|cannot|can't|isn't|aren't|never|neither|nor|not|no longer)\b|\bno\b)",
    # A list of verbs ahead of the one that matters: "sell, rent, lease or trade".
    "{LIST}": r"(?:[\w-]+(?:,\s*|\s+|,?\s+(?:or|and|and/or)\s+)){0,6}?",
}
GAP_MACRO = re.compile(r"\{~(\d{1,2})\}")  # {~3}: a word gap of up to 3 intervening words
# {NAME}: a macro or a word list of the vocabulary; regex repetitions ({2}, {0,6}) have digits.
NAMED = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
VOCABULARY_FILE = POLICY_RULES_DIR / "vocabulary.yaml"
# A pattern written in verbose mode: its global flags must open it.
VERBOSE_PATTERN = re.compile(r"\(\?[aiLmsu]*x[aiLmsux]*\)")
VERBOSE_SIGNIFICANT = frozenset(" \t\n\r\f\v#")


class RuleError(ValueError):
    """A rule file that cannot be used; the message names file, rule id and field."""


@dataclass
class Proximity:
    """Every term regex found in the sentence, all within `within` words of each other."""

    terms: list
    within: int


@dataclass
class Rule:
    id: str
    category: str
    severity: str
    polarity: str
    patterns: list
    unless: list = field(default_factory=list)
    data_types: list = field(default_factory=list)
    examples: dict = field(default_factory=dict)  # match / no_match sentences, marks removed
    references: list = field(default_factory=list)
    status: str = "experimental"
    lang: str = "en"
    path: str = ""
    near: list = field(default_factory=list)
    exceptions: list = field(default_factory=list)
    description: str = ""
    keys: tuple | None = None  # per pattern / near clause: word-prefix groups that must all appear
    probes: dict = field(default_factory=dict)  # prefilter.rule_probe_keys (English rules)
    # Per examples["match"] sentence: the (start, end) its [[marks]] gave, or None.
    match_spans: list = field(default_factory=list)
    version: str = ""           # sha256 (12 hex) of the definition, word lists written out
    file_description: str = ""  # what the rules of its file look for
    # Regexes over the sentence's heading path ("Section > Subsection"): when given, the rule
    # fires only under a heading one of them matches.
    context: list = field(default_factory=list)
    example_headings: dict = field(default_factory=dict)  # example sentence -> its heading path

    @property
    def practice(self) -> str:
        return self.id.split(".", 1)[1] if "." in self.id else self.id

    @property
    def plain_description(self) -> str:
        """The rule's own description, else one made from its category, practice and polarity."""
        return self.description or generated_description(self.id, self.category, self.polarity)


# What each category is about, said of the service; generated descriptions build on it.
CATEGORY_PLAIN = {
    "collection": "collects personal data",
    "third_party_sharing": "shares personal data with other companies",
    "sale": "sells or rents personal data",
    "behavioral_ads": "shows ads chosen from a profile of the user",
    "tracking": "tracks users with cookies, pixels, SDKs or similar",
    "children": "deals with children or their data",
    "user_rights": "gives users or parents rights over their data",
    "retention": "keeps personal data for some time",
    "transfer": "sends personal data to other countries",
}
DENIED_SUFFIX = ".denied"


def generated_description(rule_id: str, category: str | None, polarity: str | None) -> str:
    """A plain sentence for a rule without a description of its own, from its id's parts."""
    if rule_id.endswith(DENIED_SUFFIX):
        base = generated_description(rule_id[:-len(DENIED_SUFFIX)], category, "risk")
        return "The policy denies that " + base.removeprefix("The policy says ")
    practice = rule_id.split(".", 1)[1] if "." in rule_id else rule_id
    practice = re.sub(r"^th-", "", practice).replace("-", " ").replace("_", " ").replace(".", ", ")
    topic = CATEGORY_PLAIN.get(category or "", f"has the practice '{category or '?'}'")
    if polarity == "protective":
        return f"A safeguard the policy states about how the service {topic} ({practice})."
    if polarity == "neutral":
        return f"The policy talks about how the service {topic} ({practice}); adds no points."
    return f"The policy says the service {topic} ({practice})."


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
    match_start: int | None = None  # the matched phrase inside the sentence, offsets into text
    match_end: int | None = None
    status: str = "experimental"
    heading: str = ""  # the sentence's heading path: "Section > Subsection"
    also: tuple = ()  # rule ids merged into this finding (engine.one_per_category), most specific first


# --- vocabulary: named word lists shared by the rules of one language -----------------------------

def _verbose_safe(fragment: str) -> str:
    """The fragment with the characters verbose mode would drop (whitespace, #) escaped."""
    out, i = [], 0
    while i < len(fragment):
        if fragment[i] == "\\":
            out.append(fragment[i:i + 2])
            i += 2
            continue
        out.append("\\" + fragment[i] if fragment[i] in VERBOSE_SIGNIFICANT else fragment[i])
        i += 1
    return "".join(out)


def _substitute(pattern: str, words: dict, verbose: bool, seen: tuple = ()) -> str:
    def value(match):
        name = match.group(0)
        if name in MACROS:
            text = MACROS[name]
        elif match.group(1) in words:
            if match.group(1) in seen:
                raise RuleError(f"{name}: refers to itself")
            text = _substitute(words[match.group(1)], words, False, seen + (match.group(1),))
        else:
            raise RuleError(f"{name}: neither a macro ({', '.join(MACROS)}) nor a word list "
                            f"of {VOCABULARY_FILE.name}")
        return _verbose_safe(text) if verbose else text

    pattern = NAMED.sub(value, pattern)
    gap = r"\W+(?:[\w'-]+\W+){0,%s}"
    return GAP_MACRO.sub(lambda m: gap % m.group(1), pattern)


def _vocabulary_entry(value, where: str) -> str:
    """A word list is a regex fragment, or a list of alternatives joined as (?:a|b|c)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return "(?:" + "|".join(value) + ")"
    raise RuleError(f"{where}: expected a regex string or a list of alternatives")


def parse_vocabulary(path: Path) -> dict[str, dict[str, str]]:
    """Language -> {NAME: regex fragment}; every entry is checked to compile on its own."""
    data = _read_yaml(path)
    if not isinstance(data, dict) or set(data) - set(LANGS):
        raise RuleError(f"{path}: expected a mapping with the languages {' and '.join(LANGS)}")
    vocabulary = {}
    for lang in LANGS:
        section = data.get(lang) or {}
        if not isinstance(section, dict):
            raise RuleError(f"{path}: {lang}: expected a mapping of NAME: word list")
        words = {}
        for name, value in section.items():
            where = f"{path}: {lang}.{name}"
            if not isinstance(name, str) or not NAMED.fullmatch("{%s}" % name):
                raise RuleError(f"{where}: a name is upper case letters, digits and _")
            if "{%s}" % name in MACROS:
                raise RuleError(f"{where}: already a macro")
            words[name] = _vocabulary_entry(value, where)
        for name, value in words.items():
            try:
                re.compile(_substitute(value, words, False, (name,)))
            except (RuleError, re.error) as exc:
                raise RuleError(f"{path}: {lang}.{name}: {exc}") from None
        vocabulary[lang] = words
    return vocabulary


@cache
def vocabulary() -> dict[str, dict[str, str]]:
    return parse_vocabulary(VOCABULARY_FILE) if VOCABULARY_FILE.exists() else {}


def expand_macros(pattern: str, lang: str = "en") -> str:
    """The pattern with its macros ({NEG}, {LIST}, {~N}) and word lists ({NAME}) written out."""
    verbose = bool(VERBOSE_PATTERN.match(pattern))
    return _substitute(pattern, vocabulary().get(lang, {}), verbose)


# --- rules ------------------------------------------------------------------------------------------

def _compile(pattern, where: str, lang: str):
    if not isinstance(pattern, str):
        raise RuleError(f"{where}: expected a regex string, got {type(pattern).__name__}")
    try:
        return re.compile(expand_macros(pattern, lang), re.I)
    except RuleError as exc:
        raise RuleError(f"{where}: {exc}") from None
    except re.error as exc:
        raise RuleError(f"{where}: bad regex {pattern!r}: {exc}") from None


def _compile_list(raw, key, where, lang):
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RuleError(f"{where}: {key}: expected a list, got {type(value).__name__}")
    return [_compile(p, f"{where}: {key}[{i}]", lang) for i, p in enumerate(value)]


def _check_string_list(raw, key, where, allowed=None, minimum=0, label=None):
    value, label = raw.get(key, []), label or key
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{where}: {label}: expected a list of strings")
    if len(value) < minimum:
        raise RuleError(f"{where}: {label}: needs at least {minimum}")
    for v in value:
        if allowed and v not in allowed:
            raise RuleError(f"{where}: {label}: {v!r} unknown (one of {', '.join(allowed)})")
    return value


def _near_clauses(raw, where, lang) -> list[Proximity]:
    value = raw.get("near")
    if value is None:
        return []
    if not isinstance(value, list):
        raise RuleError(f"{where}: near: expected a list of {{terms, within}} mappings")
    clauses = []
    for i, clause in enumerate(value):
        here = f"{where}: near[{i}]"
        if not isinstance(clause, dict) or set(clause) - {"terms", "within"}:
            raise RuleError(f"{here}: expected a mapping with keys terms and within")
        terms = clause.get("terms")
        if not isinstance(terms, list) or len(terms) < 2:
            raise RuleError(f"{here}.terms: expected a list of at least 2 regexes")
        within = clause.get("within", NEAR_DEFAULT_WORDS)
        if not isinstance(within, int) or isinstance(within, bool) or within < 1:
            raise RuleError(f"{here}.within: expected a positive number of words")
        clauses.append(Proximity([_compile(t, f"{here}.terms[{j}]", lang)
                                  for j, t in enumerate(terms)], within))
    return clauses


SPAN_MARK = re.compile(r"\[\[(.*?)\]\]")


def _marked_span(sentence: str, where: str) -> tuple[str, tuple | None]:
    """'We may [[sell your data]].' -> ('We may sell your data.', (7, 21))."""
    marks = list(SPAN_MARK.finditer(sentence))
    if not marks:
        if "[[" in sentence or "]]" in sentence:
            raise RuleError(f"{where}: unbalanced [[ ]] in {sentence!r}")
        return sentence, None
    if len(marks) > 1 or not marks[0].group(1):
        raise RuleError(f"{where}: mark one non-empty [[span]] at most: {sentence!r}")
    mark = marks[0]
    plain = sentence[:mark.start()] + mark.group(1) + sentence[mark.end():]
    if "[[" in plain or "]]" in plain:
        raise RuleError(f"{where}: unbalanced [[ ]] in {sentence!r}")
    return plain, (mark.start(), mark.start() + len(mark.group(1)))


def _example_headings(examples: dict, where: str, has_context: bool) -> dict:
    """Example sentence -> heading path, from examples written {text: ..., heading: ...} (for a
    rule with `context:`); the examples are left as plain sentences."""
    headings = {}
    for key in ("match", "no_match"):
        value = examples.get(key)
        if not isinstance(value, list):
            continue
        plain = []
        for i, example in enumerate(value):
            if isinstance(example, dict):
                here = f"{where}: examples.{key}[{i}]"
                if set(example) != {"text", "heading"} or not all(
                        isinstance(v, str) and v.strip() for v in example.values()):
                    raise RuleError(f"{here}: expected a sentence, or {{text: sentence, "
                                    f"heading: 'Section > Subsection'}}")
                if not has_context:
                    raise RuleError(f"{here}: heading: only a rule with context: uses it")
                sentence = SPAN_MARK.sub(r"\1", example["text"])
                if headings.get(sentence, example["heading"]) != example["heading"]:
                    raise RuleError(f"{here}: {sentence!r} is given two headings: write "
                                    f"another sentence")
                headings[sentence] = example["heading"]
                example = example["text"]
            plain.append(example)
        examples[key] = plain
    if has_context:  # an example's heading is found by its sentence
        both = [s for s in examples.get("match") or [] if isinstance(s, str) and s in set(
            e for e in examples.get("no_match") or [] if isinstance(e, str))]
        if both:
            raise RuleError(f"{where}: examples: {both[0]!r} is in match and in no_match: "
                            f"write another sentence")
    return headings


def _check_examples(raw, where, lang) -> tuple[dict, list, dict]:
    """The examples with span marks removed, the marked span of each match example, and the
    heading path of each example that gives one."""
    examples = raw.get("examples")
    if not isinstance(examples, dict) or set(examples) - {"match", "no_match"}:
        raise RuleError(f"{where}: examples: expected a mapping with match and no_match lists")
    examples = dict(examples)
    headings = _example_headings(examples, where, "context" in raw)
    for key in ("match", "no_match"):
        _check_string_list(examples, key, where, minimum=2, label=f"examples.{key}")
    for sentence in examples["no_match"]:
        if "[[" in sentence:
            raise RuleError(f"{where}: examples.no_match: a span mark belongs in a match "
                            f"example: {sentence!r}")
    match, spans = [], []
    for sentence in examples["match"]:
        plain, span = _marked_span(sentence, f"{where}: examples.match")
        if span and lang == "th":  # Thai matches the token form, whose offsets differ
            raise RuleError(f"{where}: examples.match: span marks are for English rules only")
        match.append(plain)
        spans.append(span)
    return {"match": match, "no_match": list(examples["no_match"])}, spans, headings


def parse_rule(raw, path: Path, lang: str) -> Rule:
    """Validate one rule mapping against the schema and compile it."""
    if not isinstance(raw, dict):
        raise RuleError(f"{path}: a rule is not a mapping: {raw!r}"[:200])
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise RuleError(f"{path}: rule {rule_id!r}: id: expected '<category>.<practice>' in "
                        "lower case")
    where = f"{path}: rule {rule_id}"
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: {unknown[0]}: unknown key (allowed: {', '.join(sorted(RULE_KEYS))})")
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise RuleError(f"{where}: {key}: missing")
    for key, allowed in (("category", CATEGORIES), ("severity", SEVERITIES),
                         ("polarity", POLARITIES), ("status", STATUSES)):
        if raw[key] not in allowed:
            raise RuleError(f"{where}: {key}: {raw[key]!r} unknown (one of {', '.join(allowed)})")
    if rule_id.split(".", 1)[0] != raw["category"]:
        raise RuleError(f"{where}: id: must start with its category {raw['category']!r}")
    patterns = _compile_list(raw, "patterns", where, lang)
    near = _near_clauses(raw, where, lang)
    if not patterns and not near:
        raise RuleError(f"{where}: patterns: missing (or give near:)")
    data_types = _check_string_list(raw, "data_types", where, allowed=DATA_TYPES)
    references = _check_string_list(raw, "references", where, minimum=1)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise RuleError(f"{where}: description: expected a string")
    examples, match_spans, example_headings = _check_examples(raw, where, lang)
    context = _compile_list(raw, "context", where, lang)
    if "context" in raw and not context:
        raise RuleError(f"{where}: context: expected a list of at least one regex over the "
                        "heading path")
    rule = Rule(
        id=rule_id, category=raw["category"], severity=raw["severity"], polarity=raw["polarity"],
        patterns=patterns, unless=_compile_list(raw, "unless", where, lang),
        data_types=data_types, examples=examples, references=references, status=raw["status"],
        lang=lang, path=str(path), near=near,
        exceptions=_compile_list(raw, "except", where, lang), description=description,
        match_spans=match_spans, context=context, example_headings=example_headings,
    )
    # Thai patterns match the token form, where word-prefix keys do not apply.
    rule.keys = None if lang == "th" else rule_keys(rule)
    rule.probes = {} if lang == "th" else rule_probe_keys(rule)
    rule.version = definition_version(raw, rule)
    return rule


def definition_version(raw: dict, rule: Rule) -> str:
    """A short hash of the rule as written and of its patterns with word lists written out, so
    a change to a shared word list changes the version of each rule using it."""
    expanded = [p.pattern for p in rule.patterns + rule.unless + rule.exceptions + rule.context]
    expanded += [t.pattern for clause in rule.near for t in clause.terms]
    text = json.dumps([raw, expanded], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _read_yaml(path: Path):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleError(f"{path}{line}: not valid YAML: {problem}") from None
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror}") from None


def load_rule_file(path: Path) -> list[Rule]:
    """The rules of one file; the vocabulary file is checked and holds none."""
    path = Path(path)
    if path.name == VOCABULARY_FILE.name:
        parse_vocabulary(path)
        return []
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{path}: expected a mapping with a 'rules' list")
    if set(data) - FILE_KEYS:
        raise RuleError(f"{path}: {sorted(set(data) - FILE_KEYS)[0]}: unknown top-level key")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise RuleError(f"{path}: description: expected one sentence (a string)")
    lang = path.parent.name if path.parent.name in LANGS else "en"
    rules = [parse_rule(raw, path, lang) for raw in data["rules"]]
    for rule in rules:
        rule.file_description = description.strip()
    return rules


def file_description_problem(path: Path) -> str | None:
    """A one-line problem when a policy rule file has no `description:` of what it looks for."""
    data = _read_yaml(Path(path))
    if not isinstance(data, dict) or "rules" not in data:
        return None
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        return (f"{path}: description: missing (one sentence at the top of the file: what its "
                "rules look for)")
    return None


def rule_files(root: Path = POLICY_RULES_DIR) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*.yaml") if p.name != VOCABULARY_FILE.name)


def load_rules(paths=None, include_deprecated: bool = False) -> list[Rule]:
    """The rules of the given files, or of every policy rule file (then read from the compiled
    rules cache when it matches them: docs/performance.md)."""
    if paths:
        rules = [rule for path in paths for rule in load_rule_file(Path(path))]
    else:
        rules = cached_rule_set()
    return [r for r in rules if include_deprecated or r.status != "deprecated"]


# --- the compiled rules cache: parsing and compiling 140 rules takes 0.5-2.5 s, every worker did it
CACHE_DIR_ENV, RULES_CACHE_NAME = "SCANNER_CACHE_DIR", "policy-rules.pickle"
RULES_CACHE_CODE = ("rule_schema.py", "prefilter.py", "__init__.py")  # a change makes it stale
# What a rule's regex is used for, taken from the compiled pattern when it is first needed.
_PATTERN_METHODS = ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn",
                    "split", "scanner", "groups", "groupindex")


class LazyPattern:
    """A rule's regex as the compiled rules cache gives it back: re.compile(pattern, flags),
    compiled when first used, so a process compiles only the regexes its sentences reach (the
    prefilter leaves most of the ~900 untried) instead of all of them when unpickling."""

    __slots__ = ("pattern", "flags", *_PATTERN_METHODS)

    def __init__(self, pattern: str, flags: int):
        self.pattern, self.flags = pattern, flags

    def __getattr__(self, name):
        # Called only while a method's slot is empty: compile, then the slots hold the
        # compiled pattern's own bound methods (no further indirection).
        if name not in _PATTERN_METHODS:
            raise AttributeError(name)
        compiled = re.compile(self.pattern, self.flags)
        for method in _PATTERN_METHODS:
            setattr(self, method, getattr(compiled, method))
        return getattr(compiled, name)

    def __reduce__(self):
        return LazyPattern, (self.pattern, self.flags)

    def __eq__(self, other):  # as two re.compile of one pattern and flags are equal
        if isinstance(other, LazyPattern):
            return (self.pattern, self.flags) == (other.pattern, other.flags)
        return NotImplemented

    def __hash__(self):
        return hash((self.pattern, self.flags))

    def __repr__(self):
        return repr(re.compile(self.pattern, self.flags))


class _RulesPickler(pickle.Pickler):
    """Pickles rules with each compiled regex as a LazyPattern, one object per pattern and flags
    (the engine looks a regex that rules share up once per sentence): a pattern met again is
    the first one, whether re's cache gave the same object (the memo) or compiled it anew."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._first: dict[tuple, re.Pattern] = {}

    def reducer_override(self, obj):
        if type(obj) is not re.Pattern:
            return NotImplemented
        first = self._first.setdefault((obj.pattern, obj.flags), obj)
        if first is not obj:
            return _same, (first,)  # pickled before: a reference to it
        return LazyPattern, (obj.pattern, obj.flags)


def _same(pattern: LazyPattern) -> LazyPattern:
    return pattern


def _pickled_rules(key: str, rules: list[Rule]) -> bytes:
    out = io.BytesIO()
    _RulesPickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump((key, rules))
    return out.getvalue()


def cache_dir() -> Path:
    """$SCANNER_CACHE_DIR, else $XDG_CACHE_HOME/child-privacy-scanner, else ~/.cache/...."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get(CACHE_DIR_ENV) or Path(base) / "child-privacy-scanner")


def rules_cache_key(root: Path = POLICY_RULES_DIR) -> str:
    """What the parsed rules depend on: every rule file (and the vocabulary) with its folder, the
    parsing code, whether the regex parser works, and the Python that pickled them."""
    digest = hashlib.sha256(f"{sys.version}\0{Path(root).resolve()}\0".encode())
    # Rules keyed with the private regex parser and rules without keys (it failed) differ.
    digest.update(b"keyed\0" if parser_works() else b"plain\0")
    for name in RULES_CACHE_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    for path in sorted(Path(root).rglob("*.yaml")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cached_rule_set() -> list[Rule]:
    """Every policy rule (deprecated ones too), fresh objects each call: unpickled from the cache
    when its key matches; else parsed, and the cache rewritten. A cache that cannot be read or
    written is ignored."""
    try:
        key, path = rules_cache_key(), cache_dir() / RULES_CACHE_NAME
    except OSError:  # the code is inside a zipped egg: no key to check a cache against
        return [rule for file in rule_files() for rule in load_rule_file(file)]
    try:
        # Unpickling runs code: only a file of ours that nobody else may write is read.
        status = path.stat()
        if status.st_uid != os.getuid() or status.st_mode & 0o022:
            raise PermissionError(f"{path}: writable by others")
        cached_key, rules = pickle.loads(path.read_bytes())
        if cached_key == key and isinstance(rules, list) and all(isinstance(r, Rule) for r in rules):
            return rules
    except Exception:  # missing, truncated, from another version: rebuilt below
        pass
    rules = [rule for file in rule_files() for rule in load_rule_file(file)]
    partial = None  # the file being written, removed if it cannot be finished
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", delete=False) as out:
            partial = out.name
            out.write(_pickled_rules(key, rules))
        os.replace(partial, path)  # atomic: a worker reading it sees the old file or the new
    except OSError:  # a read-only home: every load parses, as before the cache
        if partial:
            Path(partial).unlink(missing_ok=True)
    return rules


def rules_version(root: Path = RULES_DIR) -> str:
    """A short hash of every rule file, so each scan records which rules judged it."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.yaml")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
