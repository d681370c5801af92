"""The policy rule engine: rules matched per sentence, denials and exceptions applied, findings
with the matched phrase. English takes the fast path (key prefilter, anchored and shared regex
searches); Thai and odd case foldings take the plain path every fast result must agree with.

Longer than 500 lines because the fast path (CompiledRules, SentenceScan) and the plain path it
must agree with stay side by side, so a change to one is read next to the other.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import reduce
from itertools import accumulate, chain, compress, islice
from operator import or_

from scanner import thai
from scanner.language import detect_lang
from scanner.prefilter import probe_keys
from scanner.rule_schema import DENIED_SUFFIX, MACROS, Finding, Proximity, Rule
from scanner.sentences import heading_paths, is_heading, split_sentences, text_headings

WORD = re.compile(r"\w+")
WORD_SPLIT = re.compile(r"(\w+)")
# Characters that str.lower() maps differently from the regex engine's case folding (dotted I,
# dotless i, long s, Kelvin sign). A sentence holding one is judged the straightforward way,
# since lower-case key positions might not be where a case-insensitive match starts.
FOLD_MISMATCH = re.compile("[\u0130\u0131\u017f\u212a]")
_UNKNOWN = object()  # a probe not yet looked for in the sentence
_NO_WORDS = frozenset()
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
        key_bits: dict[str, int] = {}
        key_proposals: dict[str, list] = {}
        # Numbered in (rule, alternative) order, so sorted numbers are the order of judging.
        self.alternatives: list[tuple] = []  # (rule index, alternative index, bits of its groups)
        self.always_numbers: list[int] = []
        # One bit per distinct key group (the same words in two rules are one bit): a
        # sentence's bits are ORed and each candidate's mask ANDed with them, and the fewer the
        # bits, the shorter those ints (1,450 bits, not 2,800, for the 81 English rules).
        # The alternatives' groups come first, so their masks, checked most often, are short.
        group_bits: dict[frozenset, int] = {}
        # Rules with `context:` are tried only under a matching heading (section_rules).
        self.context_rules = [i for i, rule in enumerate(rules) if rule.context]
        self._section_rules: dict[str, tuple] = {}
        for i, rule in enumerate(rules):
            if rule.context:
                continue
            for a, groups in enumerate(rule.keys or ()):
                number, mask = len(self.alternatives), 0
                if not groups:
                    self.always_numbers.append(number)
                for g, keys in enumerate(groups):
                    group = frozenset(keys)
                    bit = group_bits.get(group)
                    if bit is None:
                        bit = group_bits[group] = len(group_bits)
                        for key in group:
                            key_bits[key] = key_bits.get(key, 0) | 1 << bit
                    mask |= 1 << bit
                    if g == 0:  # the most selective group proposes the alternative
                        for key in keys:
                            key_proposals.setdefault(key, []).append(number)
                self.alternatives.append((i, a, mask))
        self.key_bits, self.key_proposals = key_bits, key_proposals
        # Per probe, the bits of the key groups every match of its regex contains (0: none
        # known), so an exception, denial or near term whose words are missing is not tried.
        self.probe_masks: list[int] = []
        self._group_bits = group_bits
        self._next_bit = len(group_bits)
        self.anchor_keys: dict[str, list] = {}  # word key -> numbers of the key sets holding it
        self.probes: list[tuple] = []  # probe -> (regex, index into self.leads or -1: search)
        self.leads: list[tuple] = []  # (word key set number or None, other keys, at beginning)
        self._probes: dict[int, int] = {}
        self._key_sets: dict[tuple, int] = {}
        self._lead_numbers: dict[tuple, int] = {}
        self.plans = [self._plan(rule) for rule in rules]
        # The exception probes anchored at the sentence's start (they judge the whole sentence).
        self.whole_sentence = frozenset(probe for plan in self.plans for probe in plan[2]
                                        if WHOLE_SENTENCE.match(self.probes[probe][0].pattern))
        self.masks = [mask for _i, _a, mask in self.alternatives]
        # Per rule: its (except probe, mask) and (unless probe, mask) pairs, in order.
        self.checks = [tuple(tuple((probe, self.probe_masks[probe]) for probe in probes)
                             for probes in plan[2:]) for plan in self.plans]
        # Per alternative number: (rule index, pattern probe or None, near clause or None).
        self.steps = []
        for i, a, _mask in self.alternatives:
            patterns, clauses = self.plans[i][:2]
            if a < len(patterns):
                self.steps.append((i, patterns[a], None))
            else:
                self.steps.append((i, None, clauses[a - len(patterns)]))
        simple_leads = [bool(number is not None and not other and not at_beginning)
                        for number, other, at_beginning in self.leads]
        # Per probe: (regex, lead, its key set number when the word keys are its whole lead),
        # so the usual probe finds its start positions with one look-up.
        self.probe_leads = [(regex, lead, self.leads[lead][0] if lead >= 0 and
                             simple_leads[lead] else None) for regex, lead in self.probes]
        # The same with the probe's mask first: what find() reads in one look-up.
        self.probe_info = [(mask, *lead) for mask, lead in zip(self.probe_masks, self.probe_leads,
                                                               strict=True)]
        # Per rule and outcome, the leading fields of its findings (None: no finding).
        self.finding_heads = [{"hit": _finding_head(rule, "hit"),
                               "denied": _finding_head(rule, "denied") if rule.polarity == "risk"
                               else None} for rule in rules]
        self.max_key = max((len(k) for k in (*key_bits, *self.anchor_keys)), default=0)
        self.word_bits: dict[str, int] = {}
        self.word_proposals: dict[str, tuple] = {}
        self.key_set_words: dict[int, set] = {}  # anchor key set -> the words it anchors
        self.anchored_words: set[str] = set()  # words beginning with some anchor key

    def section_rules(self, path: str) -> tuple:
        """Indices of the context rules whose `context:` matches this heading path."""
        found = self._section_rules.get(path)
        if found is None:
            if len(self._section_rules) > WORD_CACHE_LIMIT:
                self._section_rules.clear()
            found = tuple(i for i in self.context_rules if path and
                          context_matches(self.rules[i], path))
            self._section_rules[path] = found
        return found

    def _probe(self, regex: re.Pattern, known: dict) -> int:
        """known: the rule's probe keys by (pattern, flags), made when it was parsed."""
        probe = self._probes.get(id(regex))
        if probe is not None:
            return probe
        english = not self.rules or self.rules[0].lang == "en"
        lead, groups = (known.get((regex.pattern, regex.flags)) or probe_keys(regex)) \
            if english else (None, ())
        mask = 0
        for group in groups:
            bit = self._group_bits.get(group)
            if bit is None:
                bit = self._group_bits[group] = self._next_bit
                self._next_bit += 1
                for key in group:
                    self.key_bits[key] = self.key_bits.get(key, 0) | 1 << bit
            mask |= 1 << bit
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
        self._probes[id(regex)] = probe = len(self.probes)
        lead_index = -1 if lead is None else self._lead_numbers.setdefault(lead, len(self.leads))
        if lead is not None and lead_index == len(self.leads):
            self.leads.append(lead)
        self.probes.append((regex, lead_index))
        self.probe_masks.append(mask)
        return probe

    def _plan(self, rule: Rule) -> tuple:
        """(pattern probes, near clauses as (within, term probes), except probes, unless probes)."""
        known = rule.probes
        return (tuple(self._probe(p, known) for p in rule.patterns),
                tuple((c.within, tuple(self._probe(t, known) for t in c.terms)) for c in rule.near),
                tuple(self._probe(e, known) for e in rule.exceptions),
                tuple(self._probe(u, known) for u in rule.unless))

    def word_hits(self, word: str) -> tuple:
        """(key group bits, proposed alternatives, anchor key sets) of the keys beginning word."""
        bits, proposed, key_sets = 0, [], []
        for n in range(1, min(len(word), self.max_key) + 1):
            prefix = word[:n]
            bits |= self.key_bits.get(prefix, 0)
            proposed.extend(self.key_proposals.get(prefix, ()))
            key_sets.extend(self.anchor_keys.get(prefix, ()))
        return bits, tuple(proposed), tuple(key_sets)

    def learn(self, words, sentence_words) -> None:
        """Cache the hits of words not seen before, so a sentence's words map in C (map, set).
        When the cache is full it starts over with all of the sentence's words (sentence_words,
        a superset of words), which its caller then looks up."""
        if len(self.word_bits) > WORD_CACHE_LIMIT:
            self.word_bits.clear()
            self.word_proposals.clear()
            self.key_set_words.clear()
            self.anchored_words.clear()
            words = sentence_words
        for word in words:
            bits, proposed, key_sets = self.word_hits(word)
            self.word_bits[word] = bits
            self.word_proposals[word] = proposed
            for number in key_sets:
                if number in self.key_set_words:
                    self.key_set_words[number].add(word)
                else:
                    self.key_set_words[number] = {word}
            if key_sets:
                self.anchored_words.add(word)

    def passing(self, scan: SentenceScan) -> list[int]:
        """Numbers of the alternatives whose key groups all occur in the sentence, ascending."""
        present, masks = scan.present, self.masks
        numbers = [n for n in scan.proposed if present & masks[n] == masks[n]]
        numbers += self.always_numbers
        numbers.sort()
        return numbers


class SentenceScan:
    """One sentence and what its rules share: lower case, words, where each anchor's keys occur,
    and each probe's result (rules reuse terms like the collection verbs or {NEG} denials)."""

    __slots__ = ("text", "lower", "compiled", "present", "proposed", "_parts", "_anchored",
                 "_by_key_set", "_word_starts", "_positions", "_found", "_spans", "_clauses")

    def __init__(self, text: str, compiled: CompiledRules):
        self.text = text
        self.lower = lower = text.lower()
        self.compiled = compiled
        self._parts = parts = WORD_SPLIT.split(lower)  # gap, word, gap, word, ..., gap
        unique = set(parts[1::2])
        # Per word in C: the OR of the key group bits, the alternatives proposed. A word not
        # seen before (a KeyError, rare once a few policies are read) is learnt first.
        try:
            self.present = reduce(or_, map(compiled.word_bits.__getitem__, unique), 0)
        except KeyError:
            compiled.learn(unique.difference(compiled.word_bits), unique)
            self.present = reduce(or_, map(compiled.word_bits.__getitem__, unique), 0)
        self.proposed = set(chain.from_iterable(map(compiled.word_proposals.__getitem__, unique)))
        self._anchored = unique.intersection(compiled.anchored_words)
        self._by_key_set: dict[int, list] | None = None
        self._positions: dict[int, list] = {}
        self._found: dict[int, tuple | None] = {}
        self._spans: dict[int, list] = {}
        self._clauses: list[int] | None = None

    def _key_set_starts(self, number: int) -> list[int]:
        """Where the sentence words beginning with a key of this anchor key set start, ascending;
        made when a probe first asks (a sentence asks for ~10 of the ~380 key sets)."""
        by_key_set = self._by_key_set
        if by_key_set is None:
            by_key_set = self._by_key_set = {}
            self._word_starts = self._anchored_word_starts()
        found = by_key_set.get(number)
        if found is None:
            words = self.compiled.key_set_words.get(number, _NO_WORDS).intersection(self._anchored)
            word_starts = self._word_starts
            if len(words) == 1:
                found = word_starts[words.pop()]
            else:
                found = sorted(chain.from_iterable(map(word_starts.__getitem__, words)))
            by_key_set[number] = found
        return found

    def _anchored_word_starts(self) -> dict[str, list]:
        """Anchored word of the sentence -> where it starts, ascending (words in order)."""
        anchored, parts = self._anchored, self._parts
        words = parts[1::2]
        word_starts = islice(accumulate(map(len, parts)), 0, None, 2)  # every other sum
        starts: dict[str, list] = {}
        # Only the anchored words reach Python: the rest are dropped in C. word_starts has one
        # more item than words (where the trailing gap ends), hence strict=False.
        pairs = zip(words, word_starts, strict=False)
        for word, at in compress(pairs, map(anchored.__contains__, words)):
            if word in starts:
                starts[word].append(at)
            else:
                starts[word] = [at]
        return starts

    def _starts(self, lead_index: int) -> list[int]:
        """Offsets where a match of a probe with this lead can begin, ascending (for a lead
        with keys inside words or at the beginning; the others go by their key set)."""
        number, other_keys, at_beginning = self.compiled.leads[lead_index]
        found = set()
        if number is not None:
            found.update(self._key_set_starts(number))
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
        mask, regex, lead, key_set = self.compiled.probe_info[probe]
        span = None
        if self.present & mask != mask:  # a word every match needs is missing
            pass
        elif lead < 0:
            m = regex.search(self.text)
            if m:
                span = m.span()
        else:
            if key_set is None:
                starts = self._positions.get(lead)
                if starts is None:
                    starts = self._starts(lead)
            else:
                by_key_set = self._by_key_set
                starts = None if by_key_set is None else by_key_set.get(key_set)
                if starts is None:
                    starts = self._key_set_starts(key_set)
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
            return self._key_set_starts(key_set)
        starts = self._positions.get(lead)
        return self._starts(lead) if starts is None else starts

    def find_all(self, probe: int) -> list[tuple[int, int]]:
        """The spans the probe's regex.finditer(text) yields, tried only where its key begins."""
        found = self._spans.get(probe)
        if found is not None:
            return found
        compiled = self.compiled
        mask = compiled.probe_masks[probe]
        if self.present & mask != mask:  # a word every match needs is missing
            self._spans[probe] = found = []
            return found
        regex, lead, key_set = compiled.probe_leads[probe]
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

    def outcomes(self) -> list[tuple[int, str, tuple]]:
        """(rule index, 'hit' | 'denied', span) for each rule that fires, in rule order: what
        judge() gives, the candidates of each rule tried in order until one matches."""
        compiled = self.compiled
        steps, checks, present = compiled.steps, compiled.checks, self.present
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
            exceptions, unless = checks[rule_index]
            # a probe whose words are missing finds nothing: its mask is checked here, in line,
            # as most of a rule's exceptions and denials lack one of their words
            for exception, mask in exceptions:
                if present & mask == mask and self.find(exception) and \
                        self._excepts(span, exception):
                    break
            else:
                outcome = "hit"
                for denial, mask in unless:
                    if present & mask == mask and self.find(denial) and \
                            self._denies(span, denial):
                        outcome = "denied"
                        break
                fired.append((rule_index, outcome, span))
        return fired

    def _denies(self, span: tuple[int, int], denial: int) -> bool:
        """Whether a match of the denial probe shares a clause with the matched span."""
        if self._clauses is None:
            self._clauses = clause_starts(self.text)
        clauses = self._clauses
        return any(denies(clauses, span, found) for found in self.find_all(denial)) or \
            bool(clauses) and denial_in_clause(self.compiled.probes[denial][0], self.text,
                                               clauses, span)

    def _excepts(self, span: tuple[int, int], exception: int) -> bool:
        """Whether the exception probe cancels the matched span: anchored at the sentence's start
        it speaks of the whole sentence, else of its own clause and the ones after it."""
        if exception in self.compiled.whole_sentence:
            return True
        found = self.find_all(exception)
        if found and found[0][0] < span[1]:  # found before the span ends: in its clause or before
            return True
        if self._clauses is None:
            self._clauses = clause_starts(self.text)
        clauses = exception_clauses(self.text, self._clauses)
        return any(excepts(clauses, span, one) for one in found)

    def _near(self, within: int, terms: tuple) -> tuple[int, int] | None:
        # Every term must occur: the later terms are looked for first, as the first term is
        # most often the clause's broad one (collection verbs, "with" or "to" before a
        # recipient) and a later one, the narrow one, is missing from most sentences.
        for probe in reversed(terms):
            if not self.find_all(probe):
                return None
        return _nearest([self._spans[probe] for probe in terms], self.text, within)


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


# Where a new clause of a line begins: after "; " or ": " (not a ": " after for, to, with, of,
# as, not or never, which opens the verb's own list: "we do not sell data for: interest-based
# ads", "our app does not: sell or share personal data"), at
# "but" (not "but only", which limits the verb before it), "however", "whereas", "although",
# at a comma before a new subject (", we do not sell ...": the subject opens the new clause) and
# at "and" before a modal of its own ("... and may share it"). Lines are not cut:
# a denial in a lead-in ("We will never:") governs its list items.
# Every break begins with one of ";:, \t", which is matched first so that re skips to those
# characters in C (its charset prefix); each alternative then checks the character it began
# with in a lookbehind. Five times faster than the same alternatives written each with its own
# first character, and the same matches (checked on 81,000 sentences of ../shared/eval and
# 200,000 random ones, tests/test_engine_speed.py).
CLAUSE_BREAK = re.compile(
    r"[;:, \t](?:(?<=;)[ \t]+(?=\S)"
    r"|(?<=:)(?<!\bfor:)(?<!\bto:)(?<!\bwith:)(?<!\bof:)(?<!\bas:)(?<!\bnot:)(?<!\bnever:)"
    r"[ \t]+(?=\S)"
    r"|(?<=,)[ \t]+but[ \t]+(?!only\b)|(?<=[ \t])[ \t]*but[ \t]+(?!only\b)"
    r"|(?<=,)[ \t]*(?:however|whereas|although|though|while|yet)\b"
    r"|(?<=,)[ \t]+(?:and[ \t]+|so[ \t]+)?(?=(?:we|you|they|it|our|these|those"
    r"|third[ -]part(?:y|ies)|partners)[ \t])"
    # "... and may share it", "... and will only share it": a new verb
    # phrase with its own modal ("do not and will not sell" is one)
    r"|(?<=[ \t])[ \t]*and[ \t]+(?=(?:may|might|can|could|will|would|also)\b"
    r"(?![ \t]+(?:not|never)\b)))", re.I)
# The same breaks as first written, one alternative per kind of break: the reference the
# tests hold CLAUSE_BREAK to.
CLAUSE_BREAK_PLAIN = re.compile(
    r"(?:;|(?<!\bfor)(?<!\bto)(?<!\bwith)(?<!\bof)(?<!\bas)(?<!\bnot)(?<!\bnever):)[ \t]+(?=\S)"
    r"|,?[ \t]+but[ \t]+(?!only\b)|,[ \t]*(?:however|whereas|although|though"
    r"|while|yet)\b|,[ \t]+(?:and[ \t]+|so[ \t]+)?(?=(?:we|you|they|it|our|these|those"
    r"|third[ -]part(?:y|ies)|partners)[ \t])"
    r"|[ \t]+and[ \t]+(?=(?:may|might|can|could|will|would|also)\b"
    r"(?![ \t]+(?:not|never)\b))", re.I)


def clause_starts(sentence: str) -> list[int]:
    """Offsets where the second, third, ... clause of the sentence begin."""
    return [m.end() for m in CLAUSE_BREAK.finditer(sentence)]


def same_clause(starts: list[int], span: tuple[int, int], other: tuple[int, int]) -> bool:
    """Whether two spans reach into a common clause (bisect over the clause starts)."""
    first, last = bisect_right(starts, span[0]), bisect_right(starts, max(span[0], span[1] - 1))
    other_first = bisect_right(starts, other[0])
    other_last = bisect_right(starts, max(other[0], other[1] - 1))
    return first <= other_last and other_first <= last


def denies(starts: list[int], span: tuple[int, int], denial: tuple[int, int]) -> bool:
    """Whether an English denial acts on the matched span: the clause it begins in is one the
    span reaches into. A denial's match may run on past a clause break ("We do not sell your
    data, we share it with advertisers": "do not sell your data, we share"), but its negation
    stays in the clause it opens."""
    where = bisect_right(starts, denial[0])
    return bisect_right(starts, span[0]) <= where <= bisect_right(starts, max(span[0], span[1] - 1))


def denial_in_clause(regex: re.Pattern, text: str, starts: list[int],
                     span: tuple[int, int]) -> bool:
    """Whether the denial begins in a later clause the span reaches into, searched from that
    clause's start: an earlier match that ran on past the break ("will not transmit it to us,
    and we will not collect") hides it from finditer."""
    first = bisect_right(starts, span[0])
    last = bisect_right(starts, max(span[0], span[1] - 1))
    for clause in range(max(first, 1), last + 1):
        m = regex.search(text, starts[clause - 1])
        if m and bisect_right(starts, m.start()) == clause:
            return True
    return False


# A fronted subordinate clause ("If you do not want targeted ads, you can set your ad
# preferences"): what the main clause says of the reader covers it too.
FRONTED = re.compile(r"\W*(?:(?:please\s+)?note\s+that\s+)?(?:if|when|whenever|where|unless"
                     r"|although|though|because|since|while|once|to|in\s+order\s+to)\b", re.I)


def exception_clauses(sentence: str, starts: list[int]) -> list[int]:
    """The clause starts exceptions are judged by: a fronted subordinate clause joins the
    main clause after it."""
    return starts[1:] if starts and FRONTED.match(sentence) else starts


# A Thai negation comes before the verb it denies ("ไม่เก็บ"): one that begins this many
# words after the matched practice denies a later verb of the clause, not the practice.
THAI_DENIAL_REACH = 8


def thai_denies(starts: list[int], span: tuple[int, int], denial: tuple[int, int],
                form: str = "") -> bool:
    """Whether a Thai denial (spans in the token form, words between "|") acts on the span."""
    if not same_clause(starts, span, denial):
        return False
    if not form or denial[0] < span[1]:
        return True
    between = form[span[1]:denial[0]].strip("|")
    return not between or between.count("|") + 1 <= THAI_DENIAL_REACH


def excepts(starts: list[int], span: tuple[int, int], found: tuple[int, int]) -> bool:
    """Whether an English exception found at `found` cancels the matched span: it begins in
    the span's last clause or before it, or it is empty (a lookahead over the sentence)."""
    return found[0] == found[1] or \
        bisect_right(starts, found[0]) <= bisect_right(starts, max(span[0], span[1] - 1))


def find_match(rule: Rule, sentence: str) -> tuple[int, int] | None:
    """Span of the first pattern or near clause that matches."""
    for pattern in rule.patterns:
        m = pattern.search(sentence)
        if m:
            return m.span()
    for clause in rule.near:
        span = _near_match(clause, sentence)
        if span:
            return span
    return None


def _rule_form(rule: Rule, sentence: str) -> str:
    if rule.lang == "th":
        from scanner.thai import tokenized_form

        return tokenized_form(sentence)
    return matching_form(sentence)


# Emphasis marks ("We **do not** sell", "_never_") and an aside of alternatives right after a
# negation ("We do not need to (or want to) sell", "do not (and will not) share") say nothing of
# their own, but they cut a denial off the verb it denies. English rules match a form of the
# sentence with them blanked out (same length, so every offset holds); a bullet ("* item"), a
# word with an underscore ("user_id") and an aside that names an exception are kept.
EMPHASIS = re.compile(r"(?<![\w*])[*_]{1,3}(?=[^\W_])|(?<=[^\W_]|[.,;:!?)])[*_]{1,3}(?![\w*])")
NEGATED_ASIDE = re.compile(MACROS["{NEG}"] + r"(?:\s+[\w'-]+){0,3}?\s*"
                           r"(\((?:or|and|nor|and/or)\b(?![^()]*\b(?:except|unless|other\s+than"
                           r"|without|consent|permission)\b)[^()]{0,50}\))", re.I)

ASIDE_OPENS = re.compile(r"\((?:or|and|nor)\b", re.I)  # what every such aside begins with


def matching_form(sentence: str) -> str:
    """The English sentence the rules match: emphasis marks and a negated aside blanked."""
    if "*" in sentence or "_" in sentence:
        sentence = EMPHASIS.sub(lambda m: " " * len(m.group()), sentence)
    if "(" in sentence and ASIDE_OPENS.search(sentence) and NEGATED_ASIDE.search(sentence):
        sentence = NEGATED_ASIDE.sub(lambda m: m.group()[:m.start(1) - m.start()]
                                     + " " * (m.end(1) - m.start(1)), sentence)
    return sentence


def context_matches(rule: Rule, path: str) -> bool:
    """Whether a heading path ("Section > Subsection") is one the rule's `context:` asks for; a
    Thai rule's context matches the path's token form, as its patterns match the sentence's."""
    if not rule.context:
        return True
    if not path:
        return False
    form = _rule_form(rule, path)
    return any(c.search(form) for c in rule.context)


def judge(rule: Rule, sentence: str, heading: str | None = "") -> tuple[str | None, tuple | None]:
    """('hit' | 'denied' | None, matched span) for one rule on one sentence (rule's own form)
    whose heading path is `heading`: a rule with `context:` fires only under a heading it names
    (None: its heading was checked already)."""
    if rule.context and heading is not None and not context_matches(rule, heading):
        return None, None
    span = find_match(rule, sentence)
    if span is None:
        return None, None
    clauses = None
    if rule.exceptions:
        # an English exception acts on its own clause and the ones after it ("To opt out of
        # sales: ..."), not on a clause before it ("X may be sold to partners; see below to opt
        # out" still states a sale); anchored at the sentence's start, on the whole sentence
        for e in rule.exceptions:
            first = e.search(sentence)
            if first is None:
                continue
            if rule.lang != "en" or WHOLE_SENTENCE.match(e.pattern) or first.start() < span[1]:
                return None, None  # (found before the span ends: in its clause or before it)
            if clauses is None:
                clauses = _clause_starts(rule, sentence)
            if any(excepts(exception_clauses(sentence, clauses), span, m.span())
                   for m in e.finditer(sentence)):
                return None, None
    if rule.unless:
        # denials act on their own clause (a Thai one's clauses are cut in its token form)
        if clauses is None:
            clauses = _clause_starts(rule, sentence)
        if rule.lang == "en":
            denied = any(denies(clauses, span, m.span()) for u in rule.unless
                         for m in u.finditer(sentence))
        else:
            denied = any(thai_denies(clauses, span, m.span(), sentence) for u in rule.unless
                         for m in u.finditer(sentence))
        if denied:
            return "denied", span
        if rule.lang == "en" and any(denial_in_clause(u, sentence, clauses, span)
                                     for u in rule.unless):
            return "denied", span
    return "hit", span


def _clause_starts(rule: Rule, sentence: str) -> list[int]:
    return clause_starts(sentence) if rule.lang == "en" else thai.clause_starts(sentence)


# An exception pattern anchored at the start (after its inline flags): "^(?=.*contextual)".
WHOLE_SENTENCE = re.compile(r"\s*(?:\(\?[aiLmsux-]+\))?\s*(?:\^|\\A)")


def match_sentence(rule: Rule, sentence: str, heading: str = "") -> str | None:
    """'hit', 'denied' or None for one rule on one sentence under a heading path (a rule's
    example gives its own: rule.example_headings)."""
    return judge(rule, _rule_form(rule, sentence), heading)[0]


def _finding_head(rule: Rule, outcome: str) -> tuple:
    """A finding's fields up to data_types: a denied risk is an info-level protective finding."""
    denied = outcome == "denied"
    return (rule.id + (DENIED_SUFFIX if denied else ""), rule.category, rule.practice,
            "info" if denied else rule.severity, "protective" if denied else rule.polarity)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _judged_sentence(sentence: str, compiled: CompiledRules, lang: str):
    """(rule index, outcome, matched span or None) for each rule that fires, every rule tried
    with plain regex searches; Thai spans are in the token form, so they are left out."""
    form = sentence
    if lang == "th":
        from scanner.thai import tokenized_form

        form = tokenized_form(sentence)
    for rule_index, rule in enumerate(compiled.rules):
        if rule.context:
            continue  # tried only under a matching heading: _section_fired
        outcome, span = judge(rule, form)
        if outcome:
            yield rule_index, outcome, None if lang == "th" else span


def _section_fired(sentence: str, compiled: CompiledRules, lang: str, indices: tuple):
    """(rule index, outcome, span) of the context rules (their heading matched) on the sentence."""
    form = _rule_form(compiled.rules[indices[0]], sentence)
    for rule_index in indices:
        outcome, span = judge(compiled.rules[rule_index], form, None)
        if outcome:
            yield rule_index, outcome, None if lang == "th" else span


# --- sentence context: statements that are not a practice ---------------------------------------
# A risk rule that fires in one of these contexts gives a neutral, info-level finding instead
# (rule id + suffix): the topic is kept, but no practice is stated, nor denied.

# The suffixes such a finding's rule id gets, one per context.
CONTEXTS = ("heading", "definition", "rights", "reference", "disclaimer", "exceptions")

# A definition: a quoted or leading term and "means", "refers to", "is defined as".
DEFINITION = re.compile(r"^\W*(?:the\s+terms?\s+)?[“\"‘'][^”\"’]{1,60}[”\"’]\s*(?:\([^)]{0,40}\)\s*)?"
                        r"(?:,\s*)?(?:which\s+)?(?:means|mean|refers?\s+to|is\s+defined\s+as|"
                        r"shall\s+mean|includes?)\b"
                        r"|[“\"][\w\s-]{1,40},?[”\"],?\s+(?:which\s+)?(?:[\w\s]{0,40}?,\s*)?"
                        r"(?:means|refers\s+to|is\s+defined\s+as)\b", re.I)
# Every definition holds one of these quotes: a sentence without one is no definition (one scan
# for a character instead of DEFINITION tried at each offset).
DEFINITION_QUOTE = re.compile("[“\"‘']")
# A right of the reader or how to use it, up to the matched phrase in the same clause: "you
# have the right to know what we have processed for targeted advertising", "opt-out requests
# for sale", "object to the personalisation of ads", "turn off the advertising ID".
RIGHTS_CUE = re.compile(r"\b(?:(?:have|has|exercise|with)\s+(?:the\s+|a\s+|your\s+)?rights?\s+to"
                        r"|right\s+to\s+(?:know|access|opt|request|delete|object|limit|disclosure)"
                        r"|opt[- ]?out\s+(?:requests?|links?)|opt(?:ing)?[- ]?out\s+(?:of|from)"
                        r"|object(?:ing)?\s+to|withdraw\w*\s+(?:your\s+)?consent"
                        r"|turn(?:ing|s)?\s+off|disabl(?:e|ing)|request\s+(?:that\s+we|us\s+to)"
                        r"|ask\s+us\s+(?:not\s+)?to)\b", re.I)
# A word of each alternative of RIGHTS_CUE: no match without one of them (in lower case).
RIGHTS_CUE_WORDS = re.compile("right|opt|object|withdraw|turn|disabl|request|ask")
# (a Markdown bold or italic lead-in ends too: "**Right to Opt-Out of Sale.** We may share ...")
CLAUSE_END = re.compile(r"[.;!?][*_]{0,3}\s|,\s+(?:and\s+|but\s+)?(?:we|our|they|third|these)\b", re.I)
# A cross-reference: the phrase names a section ("see Interest-Based Ads", "go to Section 6").
CROSS_REFERENCE = re.compile(r"\(\s*(?:see|refer\s+to|cf\.?)\s+[^()]{0,80}$"
                             r"|\b(?:see|refer\s+to|go\s+to)\s+(?:our\s+|the\s+)?(?:section|paragraph|part"
                             r"|chapter|heading|clause)\b[^.;()]{0,60}$"
                             r"|\b(?:see|refer\s+to|go\s+to)\s+(?:our\s+|the\s+)?[“\"‘][^”\"’]{0,60}$", re.I)
# A word of each alternative of CROSS_REFERENCE: no match without one of them (in lower case).
CROSS_REFERENCE_WORDS = re.compile("see|refer|cf|go")
# A disclaimer about others' practices: "we do not control", "we are not responsible for".
DISCLAIMER = re.compile(r"\b(?:(?:do|does|did)\s+not|don[’']t|doesn[’']t|cannot|can[’']t)\s+"
                        r"(?:\w+\s+)?(?:control|have\s+(?:any\s+)?control|have\s+access|guarantee)\b"
                        r"|\b(?:have|has)\s+no\s+(?:\w+\s+)?(?:control|responsibility|liability)\b"
                        r"|\bnot\s+(?:be\s+)?(?:responsible|liable|accountable)\s+for\b"
                        r"|\b(?:beyond|outside(?:\s+of)?)\s+our\s+control\b", re.I)
# A negative lead-in whose list holds the exceptions: "We will not share your information
# unless:", "We do not disclose it to third parties except in the following cases:".
EXCEPTION_LEAD_IN = re.compile(
    r"(?:\bunless|\bexcept(?:\s+(?:as\s+follows|in\s+the\s+following|for\s+the\s+following"
    r"|(?:as\s+)?(?:described|set\s+(?:out|forth)|listed|noted|stated|explained)\s+below"
    r"|(?:when|where|if|that|to|with|in)\b))?|\bother\s+than|\bsave\s+(?:as|for|in))"
    r"\b[^:\n]{0,80}:\s*$", re.I)
NEGATION = re.compile(MACROS["{NEG}"], re.I)


def sentence_context(sentence: str) -> str | None:
    """'heading' or 'definition' when the whole sentence states no practice, else None."""
    if len(sentence) <= 120 and is_heading(sentence):
        return "heading"
    if DEFINITION_QUOTE.search(sentence, 0, 200) and DEFINITION.search(sentence, 0, 200):
        return "definition"
    return None


def phrase_context(sentence: str, match_start: int) -> str | None:
    """'rights' or 'reference' when the matched phrase is the object of a reader's right or a
    section named in a cross-reference, judged on its own clause."""
    before = sentence[max(0, match_start - 160):match_start]
    lower = before.lower()
    # a word every match of each regex holds, looked for first (case-sensitive literals, which
    # re skips to in C; it has no such fast path for a case-insensitive regex): most phrases
    # have neither cue before them
    folds = FOLD_MISMATCH.search(before) is not None  # re's case folding may match otherwise
    if (folds or RIGHTS_CUE_WORDS.search(lower)) and \
            RIGHTS_CUE.search(before) and RIGHTS_CUE.search(CLAUSE_END.split(before)[-1]):
        return "rights"
    if (folds or CROSS_REFERENCE_WORDS.search(lower, len(lower) - 80)) and \
            CROSS_REFERENCE.search(before[-80:]):
        return "reference"
    return None


def exception_list_form(sentence: str) -> str | None:
    """A negative lead-in over a list of exceptions, with its negation and its "unless" /
    "except" blanked out (offsets kept), so each exception reads as the practice it is; None
    when the sentence is not one."""
    first_end = sentence.find("\n")
    lead = sentence if first_end < 0 else sentence[:first_end]
    cue = EXCEPTION_LEAD_IN.search(lead)
    if cue is None:
        return None
    negations = list(NEGATION.finditer(lead, 0, cue.start()))
    if not negations:
        return None
    negation = negations[-1]
    blank = list(sentence)
    for start, end in (negation.span(), (cue.start(), cue.end() - 1)):
        blank[start:end] = " " * (end - start)
    return "".join(blank)


def _context_head(rule: Rule, context: str) -> tuple:
    return (f"{rule.id}.{context}", rule.category, rule.practice, "info", "neutral")


def _fired(sentence: str, compiled: CompiledRules, lang: str, fast_english: bool,
           section: tuple = ()):
    """(rule index, outcome, span) of each rule firing on the sentence, in rule order; `section`:
    the context rules whose heading matched, tried too."""
    if lang == "en":
        sentence = matching_form(sentence)
    if fast_english and not FOLD_MISMATCH.search(sentence):
        fired = SentenceScan(sentence, compiled).outcomes()
    else:
        fired = list(_judged_sentence(sentence, compiled, lang))
    if section:
        fired = sorted(fired + list(_section_fired(sentence, compiled, lang, section)),
                       key=lambda f: f[0])
    return fired


def _fired_in_context(sentence: str, compiled: CompiledRules, lang: str, fast_english: bool,
                      section: tuple = (), title: bool = False, alone: bool = True):
    """(rule index, outcome, span, context or None) for each rule that fires on the sentence.

    A title of the document's outline (`title`) is a heading for every risk rule. A list of
    exceptions under a negative lead-in is judged in its positive form; a denied sale there
    stays denied, as a false sale allegation is the worst error.
    """
    fired = _fired(sentence, compiled, lang, fast_english, section)
    rules = compiled.rules
    if title:
        return [(i, outcome, span, "heading" if rules[i].polarity == "risk" else None)
                for i, outcome, span in fired]
    if not any(rules[f[0]].polarity == "risk" for f in fired):
        return [(i, outcome, span, None) for i, outcome, span in fired]
    if lang == "th":
        return _thai_in_context(sentence, fired, rules, alone)
    if "\n" in sentence:
        positive = exception_list_form(sentence)
        if positive is not None:
            fired = sorted([f for f in fired if rules[f[0]].category == "sale"]
                           + [f for f in _fired(positive, compiled, lang, fast_english, section)
                              if rules[f[0]].category != "sale"], key=lambda f: f[0])
    elif sentence.endswith(":") and exception_list_form(sentence) is not None:
        # the lead-in alone, its list cut off: neither a practice nor a denial
        return [(i, outcome, span, "exceptions" if outcome == "denied" else None)
                for i, outcome, span in fired]
    whole = sentence_context(sentence)
    disclaimer = None
    judged = []
    for rule_index, outcome, span in fired:
        context = whole
        if context == "heading" and rules[rule_index].context:
            # what a context rule is for: a bare item ("- Identifiers") under its heading; a
            # real title is `title`
            context = "definition" if DEFINITION.search(sentence, 0, 200) else None
        if rules[rule_index].polarity != "risk":
            judged.append((rule_index, outcome, span, None))  # only risks change with context
            continue
        if context is None and span is not None:
            context = phrase_context(sentence, span[0])
        if context is None and outcome == "denied":
            if disclaimer is None:
                disclaimer = bool(DISCLAIMER.search(sentence))
            if disclaimer:
                context = "disclaimer"
        judged.append((rule_index, outcome, span, context))
    return judged


def _alone_on_line(text: str, start: int, end: int) -> bool:
    line_end = text.find("\n", end)
    return not text[text.rfind("\n", 0, start) + 1:start].strip() and \
        not text[end:None if line_end < 0 else line_end].strip()


def _thai_in_context(sentence: str, fired: list, rules: list[Rule], alone: bool) -> list[tuple]:
    """The Thai side of _fired_in_context: a risk in a heading (a line of its own: `alone`),
    definition, rights notice or cross-reference is neutral, judged on the token form."""
    form = thai.tokenized_form(sentence)
    whole = thai.sentence_context(sentence, form)
    if whole == "heading" and not alone:
        whole = None  # a piece of a longer line the cutter cut off, not a title
    judged = []
    for rule_index, outcome, span in fired:
        rule, context = rules[rule_index], None
        if rule.polarity == "risk" and outcome == "hit":  # a denial stays protective
            # a context rule's bare item under its heading is what the rule is for
            context = None if whole == "heading" and rule.context else whole
            if context is None:
                context = thai.phrase_context(form, find_match(rule, form))
        judged.append((rule_index, outcome, span, context))
    return judged


def classify(text: str, rules: list[Rule], lang: str = "auto", fast: bool = True,
             headings=None, section: str = "", model=None) -> list[Finding]:
    """Findings of every rule on every sentence of text; a denied risk becomes protective, and a
    risk in a heading, definition, rights notice, cross-reference or disclaimer is neutral.

    headings: the document's outline (scanner.sentences.Heading, from extract_document); None
    reads it from the text (Markdown and title lines). section: the heading path the whole text
    sits under (a labelled record's `heading`). Each finding carries its sentence's path, and
    rules with `context:` fire only where it matches.

    fast=False tries every rule on every sentence with plain regex searches: the reference the
    prefilter, key anchoring and shared results of the default path must agree with exactly.

    model: a scanner.model.Model of the language, whose suggestions (`model.<category>`, no
    points) join the rules' findings where the rules have none of that category; None: rules only.
    """
    if lang == "auto":
        lang = detect_lang(text)
    lang = "th" if lang == "th" else "en"
    compiled = compiled_for(rules, lang)
    findings = []
    fast_english = fast and lang == "en"
    heads, compiled_rules = compiled.finding_heads, compiled.rules
    spans = [_trimmed(text, *span) for span in split_sentences(text, lang)]
    outline = text_headings(text) if headings is None else headings
    last_path, section_rules, sentences = None, (), []
    for (start, end), (path, title) in zip(spans, heading_paths(spans, outline, section),
                                           strict=True):
        sentence = text[start:end]
        # context rules judge what a section says, never its titles
        if path is not last_path:  # the sentences of one section share one path string
            last_path, section_rules = path, compiled.section_rules(path) if path else ()
        in_section = () if title else section_rules
        if model is not None and not title:
            sentences.append((start, end, path))
        # a Thai title is a line of its own, never a piece of one
        alone = lang == "en" or _alone_on_line(text, start, end)
        for rule_index, outcome, match_span, context in _fired_in_context(
                sentence, compiled, lang, fast_english, in_section, title, alone):
            head = heads[rule_index][outcome]
            if head is None:  # the denial of a rule that is not a risk
                continue
            rule = compiled_rules[rule_index]
            if context is not None and rule.polarity == "risk":
                head = _context_head(rule, context)
            match_start, match_end = (start, end) if match_span is None else \
                (start + match_span[0], start + match_span[1])
            findings.append(Finding(*head, list(rule.data_types), sentence, start, end,
                                    match_start, match_end, rule.status, path))
    findings = one_per_category(findings, compiled_rules)
    return findings if model is None else model.add_findings(text, sentences, findings)


# --- one sentence, one finding per category ------------------------------------------------------
# Rules that fire on any statement of their category, without naming a data type or recipient:
# they give way to any other rule of the category in the same sentence.
GENERIC_RULES = frozenset({
    "collection.first-party", "collection.cookies-first-party", "collection.th-records",
    "collection.th-other-data", "collection.th-personal-data", "collection.th-org-obtains",
    "third_party_sharing.third-parties", "third_party_sharing.disclosure",
    "third_party_sharing.th-third-parties", "third_party_sharing.th-disclosure",
    "third_party_sharing.th-other-recipients"})
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _specificity(finding: Finding, order: int, rule_order: dict) -> tuple:
    """Sort key, most specific first: highest severity of the rule (a risk rule made neutral by
    its context, "sale.personal-data.definition", keeps its rule's), not a generic rule,
    narrowest matched phrase, then the rule's place in the rule files."""
    base = finding.rule_id if finding.rule_id in rule_order else finding.rule_id.rsplit(".", 1)[0]
    place, severity = rule_order.get(base, (order, finding.severity))
    return (-SEVERITY_RANK.get(severity, 0), base in GENERIC_RULES,
            (finding.match_end or 0) - (finding.match_start or 0), place)


_RULE_ORDER: list = [None, {}]  # the rule list last asked for, and its {id: (place, severity)}


def _rule_order(rules) -> dict:
    if _RULE_ORDER[0] is not rules:
        _RULE_ORDER[:] = [rules, {rule.id: (n, rule.severity) for n, rule in enumerate(rules)}]
    return _RULE_ORDER[1]


def one_per_category(findings: list[Finding], rules=()) -> list[Finding]:
    """At most one risk finding per category and sentence: the most specific one (_specificity)
    stands, with the data types of all of them (in order, without repeats) and the other rules'
    ids in `also` (a collection finding without data types, scored by its severity, stays apart
    from those with types). Protective and neutral findings add no points and are kept one by
    one: the cross-checks read them by rule id ("we do not show ads",
    behavioral_ads.ad-serving.denied, is not "no targeted ads"; children.not-directed is not
    children.age-threshold). The findings are classify's own: the one that stands is updated."""
    groups: dict[tuple, list[int]] = {}
    merging = False
    for index, finding in enumerate(findings):
        if finding.polarity == "risk":
            # a collection finding without data types scores by its severity, not by a data
            # type (scanner/scoring.py): merged with typed ones it would lose its points
            category = finding.category
            key = (finding.start, category, category == "collection" and not finding.data_types)
            members = groups.get(key)
            if members is None:
                groups[key] = [index]
            else:
                members.append(index)
                merging = True
    if not merging:
        return findings
    rule_order = _rule_order(rules)
    dropped = set()
    for members in groups.values():
        if len(members) == 1:
            continue
        ranked = sorted(members, key=lambda i: _specificity(findings[i], i, rule_order))
        top = findings[ranked[0]]
        top.data_types = list(dict.fromkeys(t for i in ranked for t in findings[i].data_types))
        top.also += tuple(dict.fromkeys(findings[i].rule_id for i in ranked[1:]
                                        if findings[i].rule_id != top.rule_id))
        findings[members[0]] = top
        dropped.update(members[1:])
    return [finding for i, finding in enumerate(findings) if i not in dropped]


def example_problems(rule: Rule) -> list[str]:
    """One line per example of the rule that disagrees with it: a match example it misses or
    whose marked span it does not match exactly, a no_match example it hits."""
    where = f"{rule.path}: rule {rule.id}"
    problems = []
    spans = rule.match_spans or [None] * len(rule.examples["match"])
    headings = rule.example_headings
    for sentence, marked in zip(rule.examples["match"], spans, strict=True):
        outcome, span = judge(rule, _rule_form(rule, sentence), headings.get(sentence, ""))
        if outcome != "hit":
            under = f" under {headings[sentence]!r}" if headings.get(sentence) else ""
            problems.append(f"{where}: examples.match: does not match{under}: {sentence!r}")
        elif marked and span != marked:
            problems.append(f"{where}: examples.match: matches {sentence[slice(*span)]!r}, not "
                            f"the marked {sentence[slice(*marked)]!r} in {sentence!r}")
    for sentence in rule.examples["no_match"]:
        if match_sentence(rule, sentence, headings.get(sentence, "")) == "hit":
            problems.append(f"{where}: examples.no_match: matches: {sentence!r}")

    return problems
