"""Key prefilter: word prefixes that every match of a rule's regex must contain or start with,
derived from the regex's parse tree so that rule authors never maintain them by hand.

The parse tree comes from the standard library's private regex parser (re._parser, sre_parse
before Python 3.11). If it is missing, raises, or no longer gives the expected keys for a known
regex, every function here answers "no keys": the engine then tries every rule on every sentence
with plain regex searches, slower but with the same findings.
"""

from __future__ import annotations

import logging
import re
import sys
from functools import cache

try:  # Python 3.11+
    import re._parser as sre_parse
    from re import _constants as sre_constants
except ImportError:  # pragma: no cover - Python 3.10, or a future Python without them
    try:
        import sre_constants
        import sre_parse
    except ImportError:
        sre_parse = sre_constants = None

log = logging.getLogger(__name__)


def _opcode(name: str):
    """The parser's constant, or a fresh object no parse tree item equals when it is gone."""
    value = getattr(sre_constants, name, None)
    return object() if value is None else value


_LITERAL, _BRANCH, _SUBPATTERN = _opcode("LITERAL"), _opcode("BRANCH"), _opcode("SUBPATTERN")
_IN, _CATEGORY = _opcode("IN"), _opcode("CATEGORY")
_NOT_LITERAL, _ANY, _RANGE = _opcode("NOT_LITERAL"), _opcode("ANY"), _opcode("RANGE")
_REPEATS = (_opcode("MAX_REPEAT"), _opcode("MIN_REPEAT"))
_AT, _AT_BOUNDARY, _AT_NON_BOUNDARY = _opcode("AT"), _opcode("AT_BOUNDARY"), _opcode("AT_NON_BOUNDARY")
_POSSESSIVE = _opcode("POSSESSIVE_REPEAT")
_ATOMIC = _opcode("ATOMIC_GROUP")
_ASSERT, _ASSERT_NOT = _opcode("ASSERT"), _opcode("ASSERT_NOT")
_LOOKAROUNDS = (_ASSERT, _ASSERT_NOT)
_AT_BEGIN = (_opcode("AT_BEGINNING"), _opcode("AT_BEGINNING_STRING"))  # ^ and \A
_NON_WORD_CLASSES = {(_CATEGORY, _opcode("CATEGORY_SPACE")), (_CATEGORY, _opcode("CATEGORY_NOT_WORD"))}

# A regex whose keys and anchor are known: if the parser's tree no longer yields them, the
# parser has changed under us and the prefilter stands down.
CANARY = (r"(?<!\bnot\s)\b(?:sell|sold|rent)\s+(?:your\s+)?(?:personal\s+)?data\b|^sale:",
          (frozenset({"sale", "rent", "sell", "sold"}),), (("rent", "sell", "sold"), (), True))


def _parse(compiled: re.Pattern):
    return sre_parse.parse(compiled.pattern, compiled.flags)


@cache
def parser_works() -> bool:
    """Whether the private regex parser is there and gives the keys this module expects."""
    try:
        canary = re.compile(CANARY[0], re.I)
        tree = _parse(canary)
        works = (_pattern_keys(tree), _anchor(tree, canary)) == CANARY[1:]
    except Exception:  # noqa: BLE001 - a private API may fail in any way
        works = False
    if not works:
        log.warning("re._parser is missing or changed: rules run without the key prefilter")
    return works


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
    """Sets of word keys; every match contains a word beginning with a key of each set.
    `boundary`: a word character at the start of items must begin a word."""
    groups = []
    _walk(items, AT_WORD_START if boundary else None, groups)
    return groups


# Where a match stands, for the required keys: None when nothing is known; else the set of what
# a word character there may be: "" the first of a word, any other key the continuation of a
# word that began earlier in the match with that key (DIGIT_KEY: with a decimal digit).
AT_WORD_START = frozenset({""})
DIGIT_KEY = "#digit"  # not a word prefix: written out as every decimal digit in a group
MAX_STATE_KEYS = 32
MAX_CLASS_CHARS = 32  # a class of more letters than this is any word character
MAX_ROUNDS = 8


@cache
def decimal_digits() -> frozenset:
    """What \\d matches in a str pattern: every Unicode decimal digit (as \\w, a word character)."""
    return frozenset(c for c in map(chr, range(sys.maxunicode + 1)) if c.isdecimal())


_CATEGORY_CHARS = {  # category -> (may be a non-word character, word characters: None = any)
    _opcode("CATEGORY_DIGIT"): (False, frozenset({DIGIT_KEY})),
    _opcode("CATEGORY_SPACE"): (True, frozenset()),
    _opcode("CATEGORY_NOT_WORD"): (True, frozenset()),
    _opcode("CATEGORY_WORD"): (False, None),
}


def _one_char(op, av) -> tuple | None:
    """(may match a non-word character, the lower-case word characters it may match, None when
    any) for an item matching one character; None for any other item."""
    if op == _LITERAL:
        char = chr(av)
        return (False, frozenset({char.lower()})) if _is_word_char(av) else (True, frozenset())
    if op in (_NOT_LITERAL, _ANY):
        return True, None
    if op != _IN:
        return None
    non_word, words = False, set()
    for item_op, item_av in av:
        if item_op == _LITERAL:
            item_non_word, item_words = _one_char(item_op, item_av)
        elif item_op == _RANGE and item_av[1] - item_av[0] < MAX_CLASS_CHARS:
            chars = [chr(c) for c in range(item_av[0], item_av[1] + 1)]
            item_non_word = not all(_is_word_char(ord(c)) for c in chars)
            item_words = frozenset(c.lower() for c in chars if _is_word_char(ord(c)))
        elif item_op == _CATEGORY and item_av in _CATEGORY_CHARS:
            item_non_word, item_words = _CATEGORY_CHARS[item_av]
        else:  # a negated class, a wide range, another category
            return True, None
        non_word |= item_non_word
        if item_words is None:
            words = None
        elif words is not None:
            words |= item_words
    if words is not None and len(words - {DIGIT_KEY}) > MAX_CLASS_CHARS:
        words = None
    return non_word, None if words is None else frozenset(words)


def _union(a, b):
    return None if a is None or b is None else a | b


def _bounded(state):
    return state if state is not None and 0 < len(state) <= MAX_STATE_KEYS else None


def _group(keys, state) -> set:
    """The keys one of which begins the word a match holds here: a word beginning here with one
    of `keys`, or the word that began earlier with a key of `state`."""
    group = set(keys) | (state - AT_WORD_START)
    if DIGIT_KEY in group:
        group.discard(DIGIT_KEY)
        group |= decimal_digits()
    return group


def _walk(items, state, groups: list | None):
    """The state after a match of the sequence items from one in `state`; the key groups every
    such match contains are added to `groups` (unless None)."""
    items = list(items)
    i = 0
    while i < len(items):
        op, av = items[i]
        if groups is not None and state is not None and "" in state:
            keys = _leading_keys(items[i:])
            if keys:
                groups.append(_group(keys, state))
        if op == _LITERAL and _is_word_char(av):
            run = i
            while run < len(items) and items[run][0] == _LITERAL and _is_word_char(items[run][1]):
                run += 1
            word = "".join(chr(code) for _op, code in items[i:run]).lower()
            state = None if state is None else frozenset(key or word for key in state)
            i = run
            continue
        state = _bounded(_step(op, av, state, groups))
        i += 1
    return state


def _step(op, av, state, groups):
    """The state after one item (its own groups added to `groups`)."""
    chars = _one_char(op, av)
    if chars is not None:
        non_word, words = chars
        after = {""} if non_word else set()
        if words is None or words:  # it may be a word character
            if state is None:
                return None
            for key in state:
                if key:
                    after.add(key)  # the same word goes on
                elif words is None:
                    return None  # a word begins with an unknown character
                else:
                    after |= words
        return frozenset(after)
    if op == _SUBPATTERN:
        return _walk(av[-1], state, groups)
    if op == _ATOMIC:
        return _walk(av, state, groups)
    if op == _BRANCH:
        after, union = frozenset(), set()
        for alternative in av[1]:
            sub = [] if groups is not None and union is not None else None
            after = _union(after, _walk(alternative, state, sub))
            if sub is not None:
                union = union | max(sub, key=_selectivity) if sub else None
        if groups is not None and union:
            groups.append(union)
        return after
    if op in _REPEATS or op == _POSSESSIVE:
        low, high, body = av
        if groups is not None and low >= 1:
            _walk(body, state, groups)  # the first round starts here
        return _repeated(body, low, high, state)
    if op == _ASSERT:
        direction, body = av
        if direction > 0:  # a lookahead: its match starts here, and the state stays
            if groups is not None:
                _walk(body, state, groups)
            return state
        before = _walk(body, None, groups)  # a lookbehind ends here
        return state if before is None else before
    if op == _ASSERT_NOT:
        return state
    if op == _AT:
        if av == _AT_BOUNDARY or av in _AT_BEGIN:
            return AT_WORD_START
        if av == _AT_NON_BOUNDARY:
            return None if state is None else state - AT_WORD_START
        return state  # the ends: $, \Z
    return None


def _repeated(body, low: int, high: int, state):
    """The state after `low` to `high` rounds of body (over-approximated: any number of rounds
    from the first, and none when `low` is 0, until the states repeat)."""
    result = state if low == 0 else frozenset()
    seen = {state}
    for _ in range(MAX_ROUNDS):
        state = _bounded(_walk(body, state, None))
        result = _union(result, state)
        if result is None or state in seen or high <= len(seen):
            return result
        seen.add(state)
    return None


# Words on nearly every line of a policy make poor keys: prefer any other required word.
COMMON_WORDS = frozenset("a an and any data for from information of on or our personal the to "
                         "use used we with you your is are be may how this that do when it as in "
                         "all such other can will not by at".split())


def _selectivity(keys) -> tuple:
    """Sort key, most selective last: no common word, long keys, no digit keys, few keys."""
    words = [k for k in keys if not (len(k) == 1 and k.isdecimal())]  # a digit: any number
    shortest = min((len(k) for k in words), default=1)
    return (not (keys & COMMON_WORDS), min(shortest, 4), len(words) == len(keys), -len(words),
            shortest)


def _is_non_word_class(op, av) -> bool:
    if op == _LITERAL:
        return not _is_word_char(av)
    if op == _IN:
        return all((o, a) in _NON_WORD_CLASSES or (o == _LITERAL and not _is_word_char(a))
                   for o, a in av)
    return False


def _ends_at_word_start(op, av, boundary: bool) -> bool:
    """Whether a word character right after this item must begin a word (`boundary`: the same
    for the position before it)."""
    if op == _AT:
        return av == _AT_BOUNDARY or av in _AT_BEGIN
    if _is_non_word_class(op, av):
        return True
    if op == _ASSERT and av[0] < 0 and len(av[1]) and _is_non_word_class(*av[1][-1]):
        return True  # (?<=["\s]): what follows comes after a non-word character
    if op in _LOOKAROUNDS:
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


def _pattern_keys(tree) -> tuple:
    return _best_groups(_required_groups(tree))


def pattern_keys(compiled: re.Pattern) -> tuple:
    """The required key groups of one regex (empty when none can be derived)."""
    if not parser_works():
        return ()
    try:
        return _pattern_keys(_parse(compiled))
    except Exception:  # noqa: BLE001 - a private API may fail in any way: no keys, every sentence
        return ()


def alternative_keys(regexes) -> tuple:
    """Key groups that must all appear for these regexes (one pattern, or a near clause's terms)
    to match: each regex's required words, and the words one of which begins every match."""
    groups = [g for regex in regexes for g in pattern_keys(regex)]
    for regex in regexes:
        lead = anchor(regex)
        if lead and lead[0] and not lead[1] and not lead[2]:
            groups.append(frozenset(lead[0]))
    return _best_groups(groups)


def rule_keys(rule) -> tuple:
    """Per pattern, then per near clause, the key groups a sentence needs for it to match;
    an empty tuple when none can be derived: that pattern is tried on every sentence."""
    return (tuple(alternative_keys([pattern]) for pattern in rule.patterns)
            + tuple(alternative_keys(clause.terms) for clause in rule.near))


def rule_probe_keys(rule) -> dict:
    """probe_keys of every regex of an English rule (patterns, near terms, exceptions, unless)
    by (pattern, flags): made when the rule is parsed, so that the compiled rules cache keeps
    them and the engine does not parse the regexes again in every process."""
    regexes = [*rule.patterns, *(term for clause in rule.near for term in clause.terms),
               *rule.exceptions, *rule.unless]
    return {(r.pattern, r.flags): _shared_probe_keys(r) for r in regexes}


_probe_keys_made: dict[tuple, tuple] = {}


def _shared_probe_keys(regex: re.Pattern) -> tuple:
    """probe_keys of a regex that rules share (their vocabulary's terms), parsed once; by
    whether re._parser works too, as probe_keys' answer depends on it."""
    key = (regex.pattern, regex.flags, parser_works())
    found = _probe_keys_made.get(key)
    if found is None:
        found = _probe_keys_made[key] = probe_keys(regex)
    return found


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
    if op == _IN and av and all(o == _LITERAL for o, _ in av) and len(av) <= 8:
        return {(chr(a).lower(), bounded and _is_word_char(a)) for _, a in av}
    if op == _AT:
        if av in _AT_BEGIN:
            return {(BEGINNING, False)}
        return _match_starts(rest, av == _AT_BOUNDARY or bounded and av != _AT_NON_BOUNDARY)
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


def probe_keys(compiled: re.Pattern) -> tuple:
    """(anchor(compiled), pattern_keys(compiled)) from one parse of the regex: where a match can
    begin, and the key groups every match contains ((None, ()) when nothing can be derived)."""
    if not parser_works():
        return None, ()
    try:
        tree = _parse(compiled)
    except Exception:  # noqa: BLE001 - a private API may fail in any way: a plain search then
        return None, ()
    try:
        lead = _anchor(tree, compiled)
    except Exception:  # noqa: BLE001
        lead = None
    try:
        groups = _pattern_keys(tree)
    except Exception:  # noqa: BLE001
        groups = ()
    return lead, groups


def anchor(compiled: re.Pattern) -> tuple | None:
    """(keys at a word start, other keys, may start at the beginning) when every match begins
    with one of them, so a match is looked for only there. None when no such keys exist."""
    if not parser_works():
        return None
    try:
        return _anchor(_parse(compiled), compiled)
    except Exception:  # noqa: BLE001 - a private API may fail in any way: a plain search then
        return None


def _anchor(tree, compiled: re.Pattern) -> tuple | None:
    starts = _match_starts(tree)
    if not starts or len(starts) > MAX_ANCHOR_KEYS or not all(k.isascii() for k, _ in starts):
        return None
    if (BEGINNING, False) in starts and (compiled.flags & re.M or MULTILINE_FLAG.search(compiled.pattern)):
        return None  # ^ also matches after a newline there
    word_keys = tuple(sorted(k for k, bounded in starts if bounded))
    other_keys = tuple(sorted({k for k, bounded in starts if not bounded and k} - set(word_keys)))
    return word_keys, other_keys, (BEGINNING, False) in starts


