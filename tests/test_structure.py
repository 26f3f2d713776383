"""The checks that keep the house in order: no import cycle, every module importable alone, no overgrown file."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "triage"
MAX_LINES = 400
# {path relative to the checkout: why it may be longer}; every entry is a debt with a reason.
LONG_FILES_ALLOWED: dict[str, str] = {}
# Modules that only run inside another program, never imported by ours.
NOT_IMPORTABLE_ALONE = {"triage.migrations.env": "Alembic runs it with its `context` configured"}


def _skipped(path: Path) -> bool:
    rel = path.relative_to(PACKAGE).as_posix()
    return rel.startswith("migrations/versions/") or "__pycache__" in path.parts


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name; a package is its `__init__.py`."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if _skipped(path):
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, in functions too, except under `if TYPE_CHECKING:` (its `else:` counts)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module → {module of the package it imports: the first line doing so}."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in _import_nodes(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                # `from pkg import name` imports pkg, and also the submodule pkg.name when there is one.
                targets = [origin] + [f"{origin}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each as one cycle through its members."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_one_cycle(graph, group) for group in groups]


def _one_cycle(graph: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, staying inside the group."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    return paths[v] + [start]
                if w in members and w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return group  # unreachable for a real cycle group


def _describe(graph: dict[str, dict[str, int]], cycle: list[str], modules: dict[str, Path]) -> str:
    steps = [f"{a} (line {graph[a][b]} of {modules[a].relative_to(ROOT)}) imports {b}"
             for a, b in zip(cycle, cycle[1:], strict=False)]
    return " → ".join(cycle) + "\n      " + "\n      ".join(steps)


def test_the_cycle_finder_sees_function_imports_submodules_and_skips_type_checking(tmp_path):
    # The graph walk itself, on a tiny made-up package, so a bug in it cannot hide a real cycle.
    files = {
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p import c\ndef f():\n    import p.b\n",
        "b.py": "from p import a\n",
        "c.py": "from . import a\n",
        "__init__.py": "",
    }
    modules = {}
    for filename, text in files.items():
        (tmp_path / filename).write_text(text)
        modules["p" if filename == "__init__.py" else f"p.{filename[:-3]}"] = tmp_path / filename
    graph = import_graph(modules)
    assert graph["p.a"] == {"p.b": 5}  # the TYPE_CHECKING import of c does not count, the function's does
    assert graph["p.b"] == {"p": 1, "p.a": 1}  # `from p import a` is the submodule a
    assert graph["p.c"] == {"p": 1, "p.a": 1}  # relative import
    assert cycles(graph) == [["p.a", "p.b", "p.a"]]


def test_no_import_cycle_inside_the_package():
    modules = _modules()
    graph = import_graph(modules)
    found = cycles(graph)
    for cycle in found:
        print("import cycle:", _describe(graph, cycle, modules))
    assert not found, f"{len(found)} import cycle(s), printed above: " + "; ".join(" → ".join(c) for c in found)


# Run in a fresh interpreter: third-party packages are imported once, then each module is imported in a forked
# child that has never seen any module of ours, so an import that only works after another module is caught.
_IMPORT_EACH = r"""
import importlib, json, os, sys, traceback
ours, preload = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in preload:
    try:
        importlib.import_module(name)
    except Exception:
        pass  # the child will report it if one of ours needs it
failed = {}
for name in ours:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            code = 0
        except BaseException:
            os.write(write, traceback.format_exc()[-3000:].encode())
            code = 1
        os.close(write)
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed[name] = message or f"exit status {status}"
print(json.dumps(failed))
"""


def _third_party(modules: dict[str, Path]) -> list[str]:
    names = set()
    for path in modules.values():
        for node in _import_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif not node.level and node.module:
                names.add(node.module.split(".")[0])
    return sorted(names - {"triage", "workers", "__future__"} - set(sys.stdlib_module_names))


def test_every_module_imports_alone_in_a_fresh_interpreter():
    modules = _modules()
    ours = sorted(set(modules) - set(NOT_IMPORTABLE_ALONE))
    result = subprocess.run([sys.executable, "-c", _IMPORT_EACH, json.dumps(ours),
                             json.dumps(_third_party(modules))],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    failed = json.loads(result.stdout.strip().splitlines()[-1])
    for name, message in failed.items():
        print(f"--- import {name} fails alone:\n{message}")
    assert not failed, f"{len(failed)} module(s) fail to import alone (printed above): {', '.join(sorted(failed))}"


def test_the_import_check_reports_a_module_that_only_imports_after_another(tmp_path):
    # A made-up package: `late` works only once `early` has run, so alone it fails; `fine` imports alone.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "early.py").write_text("import pkg\npkg.READY = True\n")
    (package / "late.py").write_text("import pkg\nassert pkg.READY\n")
    (package / "fine.py").write_text("VALUE = 1\n")
    result = subprocess.run([sys.executable, "-c", _IMPORT_EACH, json.dumps(["pkg.early", "pkg.late", "pkg.fine"]),
                             "[]"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    failed = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(failed) == ["pkg.late"] and "AttributeError" in failed["pkg.late"]


def test_no_file_in_the_package_is_over_400_lines():
    too_long = {}
    for path in sorted(PACKAGE.rglob("*")):
        if not path.is_file() or _skipped(path) or path.suffix in (".pyc", ".sqlite3"):
            continue
        rel = path.relative_to(ROOT).as_posix()
        try:
            lines = len(path.read_text().splitlines())
        except UnicodeDecodeError:
            continue  # not text
        if lines > MAX_LINES and rel not in LONG_FILES_ALLOWED:
            too_long[rel] = lines
    for rel, lines in too_long.items():
        print(f"{rel}: {lines} lines")
    assert not too_long, f"over {MAX_LINES} lines and not in LONG_FILES_ALLOWED: {too_long}"


def test_the_allow_list_names_only_files_that_exist_and_are_still_long():
    for rel, reason in LONG_FILES_ALLOWED.items():
        path = ROOT / rel
        assert reason.strip(), f"{rel} is allowed without a reason"
        assert path.is_file(), f"{rel} is allowed but does not exist any more"
        assert len(path.read_text().splitlines()) > MAX_LINES, f"{rel} is short now: take it off the allow-list"
