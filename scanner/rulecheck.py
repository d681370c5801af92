"""`scanner rules check`: validate rule files, then run each rule's own examples."""

from __future__ import annotations

from pathlib import Path

from scanner.matching import RuleError, example_problems, load_rule_file, rule_files


def check_rule_paths(paths: list[Path]) -> tuple[list[str], int]:
    """Return (problems, number of rules checked); each problem is one line."""
    files = []
    for path in paths or [None]:
        if path is None:
            files.extend(rule_files())
        elif path.is_dir():
            files.extend(rule_files(path))
        else:
            files.append(path)
    problems, count, seen = [], 0, {}
    for path in files:
        try:
            rules = load_rule_file(path)
        except RuleError as exc:
            problems.append(str(exc))
            continue
        for rule in rules:
            count += 1
            if rule.id in seen:
                problems.append(f"{path}: rule {rule.id}: id: duplicate (also in {seen[rule.id]})")
            seen[rule.id] = path
            problems.extend(example_problems(rule))
    return problems, count
