"""The policy rule engine's public import path. The work is done in three modules:
scanner.rule_schema (rule files, schema, macros and vocabulary), scanner.prefilter (keys
derived from the regexes) and scanner.engine (matching sentences, findings)."""

from scanner.engine import (  # noqa: F401
    FOLD_MISMATCH,
    CompiledRules,
    SentenceScan,
    _trimmed,
    classify,
    compiled_for,
    example_problems,
    find_match,
    judge,
    match_sentence,
)
from scanner.prefilter import alternative_keys, anchor, parser_works, pattern_keys, rule_keys  # noqa: F401
from scanner.rule_schema import (  # noqa: F401
    CATEGORIES,
    DATA_TYPES,
    MACROS,
    POLARITIES,
    SEVERITIES,
    STATUSES,
    Finding,
    Proximity,
    Rule,
    RuleError,
    expand_macros,
    load_rule_file,
    load_rules,
    parse_rule,
    rule_files,
    rules_version,
    vocabulary,
)
