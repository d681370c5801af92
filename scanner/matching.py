"""The policy rule engine: load rules/policy/**.yaml, match them per sentence, keep evidence."""

from __future__ import annotations

import hashlib
import re
from functools import reduce
from itertools import accumulate, chain, compress, islice
from operator import or_
from dataclasses import dataclass, field
from pathlib import Path

try:  # Python 3.11+
    import re._parser as sre_parse
    from re import _constants as sre_constants
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants
    import sre_parse

import yaml

from scanner.paths import POLICY_RULES_DIR, RULES_DIR
from scanner.text import detect_lang, split_sentences

CATEGORIES = ("collection", "third_party_sharing", "sale", "behavioral_ads", "tracking",
              "children", "user_rights", "retention", "transfer")
SEVERITIES = ("info", "low", "medium", "high", "critical")
POLARITIES = ("risk", "protective", "neutral")
STATUSES = ("experimental", "stable", "deprecated")
DATA_TYPES = ("contact", "identifiers", "location", "precise_location", "coarse_location", "age",
              "photos", "audio_video", "contacts", "education", "biometrics", "health",
              "financial", "usage", "device", "profile", "user_content", "personal_data")
RULE_KEYS = {"id", "category", "severity", "polarity", "status", "data_types", "patterns", "near",
             "unless", "except", "examples", "references", "description"}
REQUIRED_KEYS = ("id", "category", "severity", "polarity", "status", "examples", "references")
RULE_ID = re.compile(r"^[a-z_]+\.[a-z0-9_.-]+$")
NEAR_DEFAULT_WORDS = 12

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
    examples: dict = field(default_factory=dict)
    references: list = field(default_factory=list)
    status: str = "experimental"
    lang: str = "en"
    path: str = ""
    near: list = field(default_factory=list)
    exceptions: list = field(default_factory=list)
    description: str = ""
    keys: tuple | None = None  # per pattern / near clause: word-prefix groups that must all appear

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
    match_start: int | None = None  # the matched phrase inside the sentence, offsets into text
    match_end: int | None = None
    status: str = "experimental"


def expand_macros(pattern: str) -> str:
    for name, value in MACROS.items():
        pattern = pattern.replace(name, value)
    return GAP_MACRO.sub(lambda m: r"\W+(?:[\w'-]+\W+){0,%s}" % m.group(1), pattern)


def _compile(pattern, where: str):
    if not isinstance(pattern, str):
        raise RuleError(f"{where}: expected a regex string, got {type(pattern).__name__}")
    try:
        return re.compile(expand_macros(pattern), re.I)
    except re.error as exc:
        raise RuleError(f"{where}: bad regex {pattern!r}: {exc}") from None


def _compile_list(raw, key, where):
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RuleError(f"{where}: {key}: expected a list, got {type(value).__name__}")
    return [_compile(p, f"{where}: {key}[{i}]") for i, p in enumerate(value)]


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


def _near_clauses(raw, where) -> list[Proximity]:
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
        clauses.append(Proximity([_compile(t, f"{here}.terms[{j}]") for j, t in enumerate(terms)],
                                 within))
    return clauses


def _check_examples(raw, where):
    examples = raw.get("examples")
    if not isinstance(examples, dict) or set(examples) - {"match", "no_match"}:
        raise RuleError(f"{where}: examples: expected a mapping with match and no_match lists")
    for key in ("match", "no_match"):
        _check_string_list(examples, key, where, minimum=2, label=f"examples.{key}")
    return examples


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
    patterns = _compile_list(raw, "patterns", where)
    near = _near_clauses(raw, where)
    if not patterns and not near:
        raise RuleError(f"{where}: patterns: missing (or give near:)")
    data_types = _check_string_list(raw, "data_types", where, allowed=DATA_TYPES)
    references = _check_string_list(raw, "references", where, minimum=1)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise RuleError(f"{where}: description: expected a string")
    rule = Rule(
        id=rule_id, category=raw["category"], severity=raw["severity"], polarity=raw["polarity"],
        patterns=patterns, unless=_compile_list(raw, "unless", where), data_types=data_types,
        examples=_check_examples(raw, where), references=references, status=raw["status"],
        lang=lang, path=str(path), near=near, exceptions=_compile_list(raw, "except", where),
        description=description,
    )
    rule.keys = None if lang == "th" else rule_keys(rule)
    return rule


def load_rule_file(path: Path) -> list[Rule]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleError(f"{path}{line}: not valid YAML: {problem}") from None
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{path}: expected a mapping with a 'rules' list")
    if set(data) - {"rules"}:
        raise RuleError(f"{path}: {sorted(set(data) - {'rules'})[0]}: unknown top-level key")
    lang = path.parent.name if path.parent.name in ("en", "th") else "en"
    return [parse_rule(raw, path, lang) for raw in data["rules"]]


def rule_files(root: Path = POLICY_RULES_DIR) -> list[Path]:
    return sorted(root.rglob("*.yaml"))


def load_rules(paths=None, include_deprecated: bool = False) -> list[Rule]:
    rules = []
    for path in paths or rule_files():
        rules.extend(load_rule_file(Path(path)))
    return [r for r in rules if include_deprecated or r.status != "deprecated"]


def rules_version(root: Path = RULES_DIR) -> str:
    """A short hash of every rule file, so each scan records which rules judged it."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.yaml")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# --- prefilter: word prefixes that every match of a rule must contain --------------------------
# A sentence is tried against a rule only if one of its words starts with one of the rule's keys.
# Keys are derived from the parsed regex, so rule authors never maintain them by hand.

_LITERAL, _BRANCH, _SUBPATTERN = sre_constants.LITERAL, sre_constants.BRANCH, sre_constants.SUBPATTERN
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)
_AT, _AT_BOUNDARY = sre_constants.AT, sre_constants.AT_BOUNDARY
_POSSESSIVE = getattr(sre_constants, "POSSESSIVE_REPEAT", None)
_ATOMIC = getattr(sre_constants, "ATOMIC_GROUP", None)
_LOOKAROUNDS = (sre_constants.ASSERT, sre_constants.ASSERT_NOT)
_AT_BEGIN = (sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING)  # ^ and \A


def _is_word_char(code: int) -> bool:
    return chr(code).isalnum() or chr(code) == "_"


def _leading_keys(items) -> set | None:
    """Word-character literal prefixes that any match of this sequence starts with."""
    items = list(items)
    if not items:
        return None
    op, av = items[0]
    if op == _LITERAL and _is_word_char(av):
        chars = []
        for op2, av2 in items:
            if op2 != _LITERAL or not _is_word_char(av2):
                break
            chars.append(chr(av2).lower())
        prefix, rest = "".join(chars), items[len(chars):]
        # The parser folds `sold|sell` into 's' + (old|ell): extend the prefix through it.
        if rest and rest[0][0] in (_BRANCH, _SUBPATTERN):
            tails = _leading_keys(rest[:1])
            if tails and len(tails) <= 16:
                return {prefix + tail for tail in tails}
        return {prefix}
    if op == _AT or op in _LOOKAROUNDS:  # zero-width: \b, ^, (?<!...), (?=...)
        return _leading_keys(items[1:])
    if op == _SUBPATTERN:
        return _leading_keys(list(av[-1]) + items[1:])
    if op == _ATOMIC:
        return _leading_keys(list(av) + items[1:])
    if op == _BRANCH:
        keys = set()
        for alternative in av[1]:
            sub = _leading_keys(list(alternative) + items[1:])
            if not sub:
                return None
            keys |= sub
        return keys
    if op in _REPEATS or op == _POSSESSIVE:
        low, _high, item = av
        if low >= 1:
            return _leading_keys(item)
        # Optional: a match starts with the item or with what follows it.
        first, after = _leading_keys(item), _leading_keys(items[1:])
        return first | after if first and after else None
    return None


def _required_groups(items, boundary: bool = False) -> list[set]:
    """Sets of word-start keys; every match contains at least one key of each set.
    `boundary`: a word character at the start of items must begin a word."""
    items = list(items)
    groups = []
    for i, (op, av) in enumerate(items):
        if boundary:
            keys = _leading_keys(items[i:])
            if keys:
                groups.append(keys)
        # A group, each alternative and the first repetition start where this item starts.
        if op == _SUBPATTERN:
            groups.extend(_required_groups(av[-1], boundary))
        elif op == _BRANCH:
            union = set()
            for alternative in av[1]:
                sub = _required_groups(alternative, boundary)
                if not sub:
                    union = None
                    break
                union |= max(sub, key=_selectivity)
            if union:
                groups.append(union)
        elif op in _REPEATS and av[0] >= 1:
            groups.extend(_required_groups(av[2], boundary))
        boundary = _ends_at_word_start(op, av, boundary)
    return groups


# Words on nearly every line of a policy make poor keys: prefer any other required word.
COMMON_WORDS = frozenset("a an and any data for from information of on or our personal the to "
                         "use used we with you your is are be may how this that do when it as in "
                         "all such other can will not by at".split())


def _selectivity(keys) -> tuple:
    shortest = min(len(k) for k in keys)
    return (not (keys & COMMON_WORDS), min(shortest, 4), -len(keys), shortest)


_NON_WORD_CLASSES = {(sre_constants.CATEGORY, sre_constants.CATEGORY_SPACE),
                     (sre_constants.CATEGORY, sre_constants.CATEGORY_NOT_WORD)}


def _is_non_word_class(op, av) -> bool:
    if op == _LITERAL:
        return not _is_word_char(av)
    if op == sre_constants.IN:
        return all((o, a) in _NON_WORD_CLASSES or (o == _LITERAL and not _is_word_char(a))
                   for o, a in av)
    return False


def _ends_at_word_start(op, av, boundary: bool) -> bool:
    """Whether a word character right after this item must begin a word (`boundary`: the same
    for the position before it)."""
    if op == _AT:
        return av in (_AT_BOUNDARY, sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING)
    if _is_non_word_class(op, av):
        return True
    if op == sre_constants.ASSERT and av[0] < 0 and len(av[1]) and _is_non_word_class(*av[1][-1]):
        return True  # (?<=["\s]): what follows comes after a non-word character
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return boundary
    if op == _SUBPATTERN:
        return _sequence_ends_at_word_start(av[-1], boundary)
    if op == _BRANCH:
        return all(_sequence_ends_at_word_start(alt, boundary) for alt in av[1])
    if op in _REPEATS:
        # After one or more rounds the body's own end decides (assumed from a mid-word start);
        # with none, what came before does.
        low, _high, body = av
        after_rounds = _sequence_ends_at_word_start(body, False)
        return after_rounds if low >= 1 else after_rounds and boundary
    return False


def _sequence_ends_at_word_start(items, boundary: bool) -> bool:
    for op, av in items:
        boundary = _ends_at_word_start(op, av, boundary)
    return boundary


MAX_GROUPS = 6  # a bit each: more groups cost nothing per sentence, but bits per word


def _best_groups(groups: list[set]) -> tuple:
    unique = {frozenset(g) for g in groups}
    return tuple(sorted(unique, key=_selectivity, reverse=True)[:MAX_GROUPS])


def pattern_keys(compiled: re.Pattern) -> tuple:
    """The required key groups of one regex (empty when none can be derived)."""
    return _best_groups(_required_groups(sre_parse.parse(compiled.pattern, compiled.flags)))


def alternative_keys(regexes) -> tuple:
    """Key groups that must all appear for these regexes (one pattern, or a near clause's terms)
    to match: each regex's required words, and the words one of which begins every match."""
    groups = [g for regex in regexes for g in pattern_keys(regex)]
    for regex in regexes:
        lead = anchor(regex)
        if lead and lead[0] and not lead[1] and not lead[2]:
            groups.append(frozenset(lead[0]))
    return _best_groups(groups)


def rule_keys(rule: Rule) -> tuple:
    """Per pattern, then per near clause, the key groups a sentence needs for it to match;
    an empty tuple when none can be derived: that pattern is tried on every sentence."""
    return (tuple(alternative_keys([pattern]) for pattern in rule.patterns)
            + tuple(alternative_keys(clause.terms) for clause in rule.near))


MAX_ANCHOR_KEYS = 64
MULTILINE_FLAG = re.compile(r"\(\?[a-zA-Z]*m")
BEGINNING = ""  # the anchor key of a match that can only start at the beginning: ^, \A


def _match_starts(items, bounded: bool = False) -> set | None:
    """(key, at_word_start) pairs, one of which begins every match of this sequence: a lower-case
    ASCII literal, found right after a \\b when at_word_start; BEGINNING for ^ and \\A. None
    when a match may begin with anything else."""
    items = list(items)
    if not items:
        return None
    op, av = items[0]
    rest = items[1:]
    if op == _LITERAL and _is_word_char(av):
        keys = _leading_keys(items)
        return {(k, bounded) for k in keys} if keys else None
    if op == _LITERAL:
        return {(chr(av).lower(), False)}
    if op == sre_constants.IN and av and all(o == _LITERAL for o, _ in av) and len(av) <= 8:
        return {(chr(a).lower(), bounded and _is_word_char(a)) for _, a in av}
    if op == _AT:
        if av in _AT_BEGIN:
            return {(BEGINNING, False)}
        return _match_starts(rest, av == _AT_BOUNDARY or bounded and av != sre_constants.AT_NON_BOUNDARY)
    if op in _LOOKAROUNDS:
        return _match_starts(rest, _ends_at_word_start(op, av, bounded))
    if op == _SUBPATTERN:
        return _match_starts(list(av[-1]) + rest, bounded)
    if op == _ATOMIC:
        return _match_starts(list(av) + rest, bounded)
    if op == _BRANCH:
        found = set()
        for alternative in av[1]:
            sub = _match_starts(list(alternative) + rest, bounded)
            if sub is None:
                return None
            found |= sub
        return found
    if op in _REPEATS or op == _POSSESSIVE:
        low, _high, item = av
        first = _match_starts(item, bounded)
        if low >= 1 or first is None:
            return first
        after = _match_starts(rest, bounded)
        return first | after if after is not None else None
    return None


def anchor(compiled: re.Pattern) -> tuple | None:
    """(keys at a word start, other keys, may start at the beginning) when every match begins
    with one of them, so a match is looked for only there. None when no such keys exist."""
    starts = _match_starts(sre_parse.parse(compiled.pattern, compiled.flags))
    if not starts or len(starts) > MAX_ANCHOR_KEYS or not all(k.isascii() for k, _ in starts):
        return None
    if (BEGINNING, False) in starts and (compiled.flags & re.M or MULTILINE_FLAG.search(compiled.pattern)):
        return None  # ^ also matches after a newline there
    word_keys = tuple(sorted(k for k, bounded in starts if bounded))
    other_keys = tuple(sorted({k for k, bounded in starts if not bounded and k} - set(word_keys)))
    return word_keys, other_keys, (BEGINNING, False) in starts


WORD = re.compile(r"\w+")
WORD_SPLIT = re.compile(r"(\w+)")
# Characters that str.lower() maps differently from the regex engine's case folding (dotted I,
# dotless i, long s, Kelvin sign). A sentence holding one is judged the straightforward way,
# since lower-case key positions might not be where a case-insensitive match starts.
FOLD_MISMATCH = re.compile("[\u0130\u0131\u017f\u212a]")
_UNKNOWN = object()  # a probe not yet looked for in the sentence
ANCHOR_LIMIT = 64  # more key positions than this: one search from the first is cheaper
WORD_CACHE_LIMIT = 200_000  # words whose key hits are remembered; then the cache starts over


class CompiledRules:
    """Rules of one language indexed for the fast path.

    Prefilter: every (rule, alternative, key group) is one bit; a word's bits are cached, so a
    sentence's candidates are the alternatives whose bits all turn up among its words.
    Probes: every distinct regex of the rules, numbered, with its anchor, so a sentence looks
    for a regex once however many rules share it, and only where its leading key occurs.
    """

    def __init__(self, rules: list[Rule]):
        self.rules = rules
        self.always: dict[int, set] = {}  # rule index -> its alternatives without keys
        key_bits: dict[str, int] = {}
        key_proposals: dict[str, list] = {}
        # Numbered in (rule, alternative) order, so sorted numbers are the order of judging.
        self.alternatives: list[tuple] = []  # (rule index, alternative index, bits of its groups)
        self.always_numbers: list[int] = []
        bit = 0
        for i, rule in enumerate(rules):
            for a, groups in enumerate(rule.keys or ()):
                number, mask = len(self.alternatives), 0
                if not groups:
                    self.always.setdefault(i, set()).add(a)
                    self.always_numbers.append(number)
                for g, keys in enumerate(groups):
                    mask |= 1 << bit
                    for key in keys:
                        key_bits[key] = key_bits.get(key, 0) | 1 << bit
                        if g == 0:  # the most selective group proposes the alternative
                            key_proposals.setdefault(key, []).append(number)
                    bit += 1
                self.alternatives.append((i, a, mask))
        self.key_bits, self.key_proposals = key_bits, key_proposals
        self.anchor_keys: dict[str, list] = {}  # word key -> numbers of the key sets holding it
        self.regexes: list[re.Pattern] = []
        self.probes: list[tuple] = []  # probe -> (regex, index into self.leads or -1: search)
        self.leads: list[tuple] = []  # (word key set number or None, other keys, at beginning)
        self.anchors: dict[int, tuple | None] = {}  # id(regex) -> its lead, for inspection
        self._probes: dict[int, int] = {}
        self._key_sets: dict[tuple, int] = {}
        self._lead_numbers: dict[tuple, int] = {}
        self.plans = [self._plan(rule) for rule in rules]
        self.masks = [mask for _i, _a, mask in self.alternatives]
        # Per alternative number: (rule index, pattern probe or None, near clause or None).
        self.steps = []
        for i, a, _mask in self.alternatives:
            patterns, clauses = self.plans[i][:2]
            if a < len(patterns):
                self.steps.append((i, patterns[a], None))
            else:
                self.steps.append((i, None, clauses[a - len(patterns)]))
        self.simple_leads = [bool(number is not None and not other and not at_beginning)
                             for number, other, at_beginning in self.leads]
        # Per probe: (regex, lead, its key set number when the word keys are its whole lead),
        # so the usual probe finds its start positions with one look-up.
        self.probe_leads = [(regex, lead, self.leads[lead][0] if lead >= 0 and
                             self.simple_leads[lead] else None) for regex, lead in self.probes]
        # Per rule and outcome, the leading fields of its findings (None: no finding).
        self.finding_heads = [{"hit": _finding_head(rule, "hit"),
                               "denied": _finding_head(rule, "denied") if rule.polarity == "risk"
                               else None} for rule in rules]
        self.max_key = max((len(k) for k in (*key_bits, *self.anchor_keys)), default=0)
        self.word_bits: dict[str, int] = {}
        self.word_proposals: dict[str, tuple] = {}
        self.word_key_sets: dict[str, tuple] = {}
        self.anchored_words: set[str] = set()  # words beginning with some anchor key

    def _probe(self, regex: re.Pattern) -> int:
        probe = self._probes.get(id(regex))
        if probe is not None:
            return probe
        lead = anchor(regex) if not self.rules or self.rules[0].lang == "en" else None
        if lead is not None:
            word_keys, other_keys, at_beginning = lead
            number = None
            if word_keys:
                if word_keys not in self._key_sets:
                    self._key_sets[word_keys] = len(self._key_sets)
                    for key in word_keys:
                        self.anchor_keys.setdefault(key, []).append(self._key_sets[word_keys])
                number = self._key_sets[word_keys]
            lead = (number, other_keys, at_beginning)
        self.anchors[id(regex)] = lead
        self._probes[id(regex)] = probe = len(self.regexes)
        self.regexes.append(regex)
        lead_index = -1 if lead is None else self._lead_numbers.setdefault(lead, len(self.leads))
        if lead is not None and lead_index == len(self.leads):
            self.leads.append(lead)
        self.probes.append((regex, lead_index))
        return probe

    def _plan(self, rule: Rule) -> tuple:
        """(pattern probes, near clauses as (within, term probes), except probes, unless probes)."""
        return (tuple(self._probe(p) for p in rule.patterns),
                tuple((c.within, tuple(self._probe(t) for t in c.terms)) for c in rule.near),
                tuple(self._probe(e) for e in rule.exceptions),
                tuple(self._probe(u) for u in rule.unless))

    def word_hits(self, word: str) -> tuple:
        """(key group bits, proposed alternatives, anchor key sets) of the keys beginning word."""
        bits, proposed, key_sets = 0, [], []
        for n in range(1, min(len(word), self.max_key) + 1):
            prefix = word[:n]
            bits |= self.key_bits.get(prefix, 0)
            proposed.extend(self.key_proposals.get(prefix, ()))
            key_sets.extend(self.anchor_keys.get(prefix, ()))
        return bits, tuple(proposed), tuple(key_sets)

    def learn(self, words) -> None:
        """Cache the hits of words not seen before, so a sentence's words map in C (map, set)."""
        if len(self.word_bits) > WORD_CACHE_LIMIT:
            self.word_bits.clear()
            self.word_proposals.clear()
            self.word_key_sets.clear()
            self.anchored_words.clear()
        for word in words:
            bits, proposed, key_sets = self.word_hits(word)
            self.word_bits[word] = bits
            self.word_proposals[word] = proposed
            self.word_key_sets[word] = key_sets
            if key_sets:
                self.anchored_words.add(word)

    def passing(self, scan: SentenceScan) -> list[int]:
        """Numbers of the alternatives whose key groups all occur in the sentence, ascending."""
        present, masks = scan.present, self.masks
        numbers = [n for n in scan.proposed if present & masks[n] == masks[n]]
        numbers += self.always_numbers
        numbers.sort()
        return numbers

    def candidates(self, scan: SentenceScan) -> list[tuple[int, list]]:
        """(rule index, indices of its patterns / near clauses worth trying) pairs, in order."""
        chosen: dict[int, list] = {}
        for number in self.passing(scan):
            rule_index, alternative, _mask = self.alternatives[number]
            chosen.setdefault(rule_index, []).append(alternative)
        return list(chosen.items())


class SentenceScan:
    """One sentence and what its rules share: lower case, words, where each anchor's keys occur,
    and each probe's result (rules reuse terms like the collection verbs or {NEG} denials)."""

    __slots__ = ("text", "lower", "compiled", "present", "proposed", "_parts", "_anchored",
                 "_by_key_set", "_positions", "_found", "_spans")

    def __init__(self, text: str, compiled: CompiledRules):
        self.text = text
        self.lower = lower = text.lower()
        self.compiled = compiled
        self._parts = parts = WORD_SPLIT.split(lower)  # gap, word, gap, word, ..., gap
        unique = set(parts[1::2])
        unseen = unique.difference(compiled.word_bits)
        if unseen:
            compiled.learn(unseen)
        # Per word in C: the OR of the key group bits, the alternatives proposed.
        self.present = reduce(or_, map(compiled.word_bits.__getitem__, unique), 0)
        self.proposed = set(chain.from_iterable(map(compiled.word_proposals.__getitem__, unique)))
        self._anchored = unique.intersection(compiled.anchored_words)
        self._by_key_set: dict[int, list] | None = None
        self._positions: dict[int, list] = {}
        self._found: dict[int, tuple | None] = {}
        self._spans: dict[int, list] = {}

    def _key_set_starts(self) -> dict[int, list]:
        """Anchor key set number -> where the sentence words beginning with its keys start,
        ascending (the words are visited in order)."""
        anchored, parts = self._anchored, self._parts
        words = parts[1::2]
        word_starts = islice(accumulate(map(len, parts)), 0, None, 2)  # every other sum
        key_sets_of = self.compiled.word_key_sets
        by_key_set: dict[int, list] = {}
        # Only the anchored words reach Python: the rest are dropped in C.
        for word, at in compress(zip(words, word_starts), map(anchored.__contains__, words)):
            for n in key_sets_of[word]:
                if n in by_key_set:
                    by_key_set[n].append(at)
                else:
                    by_key_set[n] = [at]
        return by_key_set

    def _starts(self, lead_index: int) -> list[int]:
        """Offsets where a match of a probe with this lead can begin, ascending."""
        number, other_keys, at_beginning = self.compiled.leads[lead_index]
        word_starts = ()
        if number is not None:
            if self._by_key_set is None:
                self._by_key_set = self._key_set_starts()
            word_starts = self._by_key_set.get(number, ())
        if self.compiled.simple_leads[lead_index]:
            positions = word_starts
        else:
            found = set(word_starts)
            if at_beginning:
                found.add(0)
            for key in other_keys:
                p = self.lower.find(key)
                while p >= 0:
                    found.add(p)
                    p = self.lower.find(key, p + 1)
            positions = sorted(found)
        self._positions[lead_index] = positions
        return positions

    def find(self, probe: int) -> tuple[int, int] | None:
        """Span of the probe's regex.search(text), tried only where its leading key begins."""
        found = self._found
        span = found.get(probe, _UNKNOWN)
        if span is not _UNKNOWN:
            return span
        regex, lead, key_set = self.compiled.probe_leads[probe]
        span = None
        if lead < 0:
            m = regex.search(self.text)
            if m:
                span = m.span()
        else:
            starts = self._lead_starts(lead, key_set)
            if len(starts) > ANCHOR_LIMIT:
                m = regex.search(self.text, starts[0])
                if m:
                    span = m.span()
            elif starts:
                match, text = regex.match, self.text
                for p in starts:
                    m = match(text, p)
                    if m:
                        span = m.span()
                        break
        found[probe] = span
        return span

    def _lead_starts(self, lead: int, key_set):
        """Where a probe's match can begin: the positions of its key set, or of its lead key."""
        if key_set is not None:
            by_key_set = self._by_key_set
            if by_key_set is None:
                by_key_set = self._by_key_set = self._key_set_starts()
            return by_key_set.get(key_set, ())
        starts = self._positions.get(lead)
        return self._starts(lead) if starts is None else starts

    def find_all(self, probe: int) -> list[tuple[int, int]]:
        """The spans the probe's regex.finditer(text) yields, tried only where its key begins."""
        found = self._spans.get(probe)
        if found is not None:
            return found
        regex, lead, key_set = self.compiled.probe_leads[probe]
        if lead < 0:
            found = [m.span() for m in regex.finditer(self.text)]
        else:
            starts = self._lead_starts(lead, key_set)
            found, after = [], 0
            match, text = regex.match, self.text
            for p in starts:
                if p >= after:
                    m = match(text, p)
                    if m:
                        found.append(m.span())
                        after = m.end()  # a leading key makes every match non-empty
        self._spans[probe] = found
        return found

    def search(self, regex: re.Pattern) -> tuple[int, int] | None:
        """find() for a regex of the compiled rules."""
        return self.find(self.compiled._probes[id(regex)])

    def spans(self, regex: re.Pattern) -> list[tuple[int, int]]:
        """find_all() for a regex of the compiled rules."""
        return self.find_all(self.compiled._probes[id(regex)])

    def outcomes(self) -> list[tuple[int, str, tuple]]:
        """(rule index, 'hit' | 'denied', span) for each rule that fires, in rule order: what
        judge() gives, the candidates of each rule tried in order until one matches."""
        compiled = self.compiled
        steps, plans = compiled.steps, compiled.plans
        fired = []
        decided = -1  # the rule whose match was found already: its other alternatives are moot
        for number in compiled.passing(self):
            rule_index, probe, clause = steps[number]
            if rule_index == decided:
                continue
            span = self.find(probe) if clause is None else self._near(*clause)
            if not span:
                continue
            decided = rule_index
            _patterns, _clauses, exceptions, unless = plans[rule_index]
            for exception in exceptions:
                if self.find(exception):
                    break
            else:
                outcome = "hit"
                for denial in unless:
                    if self.find(denial):
                        outcome = "denied"
                        break
                fired.append((rule_index, outcome, span))
        return fired

    def _near(self, within: int, terms: tuple) -> tuple[int, int] | None:
        hits = []
        for probe in terms:
            spans = self.find_all(probe)
            if not spans:
                return None
            hits.append(spans)
        return _nearest(hits, self.text, within)


_compiled_cache: dict[tuple, CompiledRules] = {}


def compiled_for(rules: list[Rule], lang: str) -> CompiledRules:
    key = (tuple(id(r) for r in rules), lang)
    compiled = _compiled_cache.get(key)
    if compiled is None:
        if len(_compiled_cache) > 16:
            _compiled_cache.clear()
        compiled = CompiledRules([r for r in rules if r.lang == lang])
        _compiled_cache[key] = compiled
    return compiled


# --- matching -----------------------------------------------------------------------------------

def _words_between(sentence: str, start: int, end: int, limit: int) -> int:
    if end - start > limit * 25:  # far beyond any plausible word count: skip the counting
        return limit + 1
    return len(WORD.findall(sentence, start, end))


def _near_match(clause: Proximity, sentence: str) -> tuple[int, int] | None:
    """The span where every term occurs within clause.within words of the first, or None."""
    hits = []
    for term in clause.terms:
        spans = [m.span() for m in term.finditer(sentence)]
        if not spans:
            return None
        hits.append(spans)
    return _nearest(hits, sentence, clause.within)


def _nearest(hits: list, sentence: str, within: int) -> tuple[int, int] | None:
    """From each term's spans: the first span of term 1 with every other term near it."""
    for lo, hi in hits[0]:
        for spans in hits[1:]:
            best = None
            for s, e in spans:
                if s >= hi:
                    gap = _words_between(sentence, hi, s, within)
                elif e <= lo:
                    gap = _words_between(sentence, e, lo, within)
                else:
                    gap = 0
                if gap <= within and (best is None or gap < best[0]):
                    best = (gap, s, e)
            if best is None:
                break
            lo, hi = min(lo, best[1]), max(hi, best[2])
        else:
            return lo, hi
    return None


def find_match(rule: Rule, sentence: str, only: set | None = None) -> tuple[int, int] | None:
    """Span of the first pattern or near clause that matches; `only` limits which are tried
    (indices over patterns then near clauses, as the prefilter numbers them)."""
    for index, pattern in enumerate(rule.patterns):
        if only is None or index in only:
            m = pattern.search(sentence)
            if m:
                return m.start(), m.end()
    offset = len(rule.patterns)
    for index, clause in enumerate(rule.near, offset):
        if only is None or index in only:
            span = _near_match(clause, sentence)
            if span:
                return span
    return None


def _rule_form(rule: Rule, sentence: str) -> str:
    if rule.lang == "th":
        from scanner.thai import tokenized_form

        return tokenized_form(sentence)
    return sentence


def judge(rule: Rule, sentence: str, only: set | None = None) -> tuple[str | None, tuple | None]:
    """('hit' | 'denied' | None, matched span) for one rule on one sentence (rule's own form)."""
    span = find_match(rule, sentence, only)
    if span is None:
        return None, None
    if any(e.search(sentence) for e in rule.exceptions):
        return None, None
    if any(u.search(sentence) for u in rule.unless):
        return "denied", span
    return "hit", span


def match_sentence(rule: Rule, sentence: str) -> str | None:
    """'hit', 'denied' or None for one rule on one sentence."""
    return judge(rule, _rule_form(rule, sentence))[0]


def _finding(rule: Rule, outcome: str, sentence_span, match_span, text: str) -> Finding:
    start, end = sentence_span
    denied = outcome == "denied"
    if match_span is None:
        match_start, match_end = start, end
    else:
        match_start, match_end = start + match_span[0], start + match_span[1]
    return Finding(
        rule_id=rule.id + (".denied" if denied else ""), category=rule.category,
        practice=rule.practice, severity="info" if denied else rule.severity,
        polarity="protective" if denied else rule.polarity,
        data_types=list(rule.data_types), evidence=text[start:end], start=start, end=end,
        match_start=match_start, match_end=match_end, status=rule.status,
    )


def _finding_head(rule: Rule, outcome: str) -> tuple:
    """Finding's fields up to data_types, as _finding() fills them."""
    denied = outcome == "denied"
    return (rule.id + (".denied" if denied else ""), rule.category, rule.practice,
            "info" if denied else rule.severity, "protective" if denied else rule.polarity)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _judged_sentence(sentence: str, compiled: CompiledRules, lang: str, fast: bool):
    """(rule, outcome, span in the judged form, judged form) for each rule that fires."""
    if lang == "th":
        from scanner.thai import tokenized_form

        form = tokenized_form(sentence)
        for rule in compiled.rules:
            outcome, span = judge(rule, form)
            if outcome:
                yield rule, outcome, span, form
        return
    if not fast or FOLD_MISMATCH.search(sentence):
        for rule in compiled.rules:
            outcome, span = judge(rule, sentence)
            if outcome:
                yield rule, outcome, span, sentence
        return
    rules = compiled.rules
    for rule_index, outcome, span in SentenceScan(sentence, compiled).outcomes():
        yield rules[rule_index], outcome, span, sentence


def classify(text: str, rules: list[Rule], lang: str = "auto", fast: bool = True) -> list[Finding]:
    """Findings of every rule on every sentence of text; a denied risk becomes protective.

    fast=False tries every rule on every sentence with plain regex searches: the reference the
    prefilter, key anchoring and shared results of the default path must agree with exactly.
    """
    if lang == "auto":
        lang = detect_lang(text)
    lang = "th" if lang == "th" else "en"
    compiled = compiled_for(rules, lang)
    findings = []
    fast_english = fast and lang == "en"
    heads, compiled_rules = compiled.finding_heads, compiled.rules
    for span in split_sentences(text, lang):
        start, end = _trimmed(text, *span)
        sentence = text[start:end]
        if fast_english and not FOLD_MISMATCH.search(sentence):
            for rule_index, outcome, (match_start, match_end) in \
                    SentenceScan(sentence, compiled).outcomes():
                head = heads[rule_index][outcome]
                if head is not None:  # None: the denial of a rule that is not a risk
                    rule = compiled_rules[rule_index]
                    findings.append(Finding(*head, list(rule.data_types), sentence, start, end,
                                            start + match_start, start + match_end, rule.status))
            continue
        for rule, outcome, match_span, form in _judged_sentence(sentence, compiled, lang, fast):
            if outcome == "denied" and rule.polarity != "risk":
                continue
            if form is not sentence:
                match_span = None  # token-form offsets do not map back onto the text
            findings.append(_finding(rule, outcome, (start, end), match_span, text))
    return findings
