"""The shape of the code: no import cycle among the project's modules (imports inside functions
count), every module over 500 lines says at its top why it is not split, and every module has
its line in docs/architecture.md; and a test that crawls without the `crawl` marker fails."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import ROOT, current_test, invoke, run_cli, run_scrapy_crawl

PACKAGES = ("scanner", "spiders", "reports")
LONG_MODULE_LINES = 500
# A long module's docstring must carry this phrase followed by its reason.
LONG_MODULE_REASON = "Longer than 500 lines because"


def project_modules() -> dict[str, Path]:
    """{dotted module name: file} for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that module `name` imports anywhere in its body (functions included)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package this module is in (or is)
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import mod` imports the submodule; `from pkg import func` the package.
            candidates = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                          for alias in node.names]
        else:
            continue
        for candidate in candidates:
            # `import scanner.store.x` where x is an attribute: the longest module prefix.
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def cycle_path(graph: dict[str, set[str]], component: list[str]) -> str:
    """The shortest loop from a component's first module back to it: a -> b -> ... -> a."""
    members, start = set(component), component[0]
    previous, queue = {}, [start]
    for node in queue:  # breadth first, so the loop shown is the shortest
        for successor in sorted(graph[node] & members):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return " -> ".join(reversed(path)) + f" -> {start}"
            if successor not in previous:
                previous[successor] = node
                queue.append(successor)
    raise ValueError(f"{component} is not a cycle of the graph")


def test_the_project_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 40 and graph["scanner.cli"], "the import graph was not read"
    cycles = import_cycles(graph)
    assert not cycles, "import cycles (a function is in the wrong module):\n" + "\n".join(
        cycle_path(graph, component) for component in cycles)


def test_the_cycle_finder_finds_cycles_and_reads_imports_inside_functions(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert cycle_path(graph, ["a", "b", "c"]) == "a -> b -> c -> a"
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .one import helper\n")
    (package / "one.py").write_text("import json\n\ndef helper():\n    from pkg import two\n")
    (package / "two.py").write_text("from . import one\nfrom pkg.one import helper\n")
    modules = {"pkg": package / "__init__.py", "pkg.one": package / "one.py", "pkg.two": package / "two.py"}
    edges = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    assert edges == {"pkg": {"pkg.one"}, "pkg.one": {"pkg.two"}, "pkg.two": {"pkg.one"}}
    assert import_cycles(edges) == [["pkg.one", "pkg.two"]]


def long_modules_without_reason(modules: dict[str, Path]) -> list[str]:
    """'path (N lines)' of every module over the limit whose docstring gives no reason."""
    missing = []
    for path in modules.values():
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n")
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if lines > LONG_MODULE_LINES and not docstring.partition(LONG_MODULE_REASON)[2].strip(" .:\n"):
            missing.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name} ({lines} lines)")
    return missing


def test_a_long_module_says_why_at_its_top():
    missing = long_modules_without_reason(project_modules())
    assert not missing, (f"split these along their seams, or state '{LONG_MODULE_REASON} ...' in "
                         f"their module docstring: {', '.join(missing)}")


def test_the_long_module_check_reads_line_counts_and_docstrings(tmp_path):
    body = "x = 1\n" * LONG_MODULE_LINES
    cases = {
        "short.py": '"""Short."""\n',
        "long.py": '"""Long."""\n' + body,
        "empty_reason.py": f'"""Long.\n\n{LONG_MODULE_REASON}."""\n' + body,
        "explained.py": f'"""Long.\n\n{LONG_MODULE_REASON} its parts share one state."""\n' + body,
    }
    for name, source in cases.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    modules = {name: tmp_path / name for name in cases}
    assert sorted(long_modules_without_reason(modules)) == [
        f"empty_reason.py ({LONG_MODULE_LINES + 3} lines)", f"long.py ({LONG_MODULE_LINES + 1} lines)"]


def test_every_module_has_its_place_in_the_architecture_doc():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for path in project_modules().values():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defines = any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in tree.body)
        if path.name == "__init__.py" and not defines:
            continue  # a package's docstring and version: nothing to place
        relative = path.relative_to(ROOT)
        # A subpackage may be placed as a whole (`scanner/demo/`).
        named = [f"`{relative.as_posix()}`"] + [f"`{parent.as_posix()}/`" for parent in relative.parents
                                              if len(parent.parts) > 1]
        if not any(name in doc for name in named):
            missing.append(relative.as_posix())
    assert not missing, f"docs/architecture.md does not place these modules: {', '.join(missing)}"


def test_a_crawl_started_by_an_unmarked_test_fails_before_it_starts(tmp_path):
    assert current_test["name"].endswith("::test_a_crawl_started_by_an_unmarked_test_fails_before_it_starts")
    assert current_test["marked_crawl"] is False
    for start in (lambda: run_cli("scan", tmp_path / "t.yaml", "--db", tmp_path / "r.db"),
                  lambda: invoke("demo", "--db", tmp_path / "r.db"),
                  lambda: run_scrapy_crawl("site", tmp_path / "t.yaml", tmp_path / "r.db")):
        with pytest.raises(AssertionError, match="runs `(scanner scan|scanner demo|scrapy crawl site)`: "
                                                 "mark it @pytest.mark.crawl"):
            start()
    assert not (tmp_path / "r.db").exists()
    assert invoke("rules", "check", "--help").exit_code == 0  # commands that do not crawl run


@pytest.mark.crawl
def test_a_marked_test_may_crawl():
    assert current_test["marked_crawl"] is True


def test_the_scan_process_does_not_import_scrapy():
    """Only workers crawl: what `scanner scan` imports to run a scan leaves Scrapy and Twisted
    out (0.15 s of its start-up; scanner.list_update imports the guard only to download)."""
    import subprocess
    import sys

    code = ("import sys; from scanner import cli, crawl, store, summary, targets, exitcodes; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scrapy', 'twisted')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
