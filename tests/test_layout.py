"""The package's layout rules (docs/architecture.md, "Layout"), checked by walking the AST of
every module: which package may import which, no import circle, no project import inside a
function, no private name imported across modules, and the size limits (modules about 400
lines, functions about 80, unless a reason is written at their top)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "xbar_hw"

#: package (or top-level module) -> the packages it may import. Everything below a package
#: may import its own package. Written out plainly: this table is the layout's contract.
ALLOWED = {
    "core": set(),
    "workload": {"core"},
    "xbar": {"core", "workload"},
    "adapt": {"core", "workload", "xbar"},
    "rtl": {"core"},
    "energy": {"core", "workload", "xbar"},
    "sim": {"core", "workload", "xbar", "rtl"},
    "flows": {"core", "workload", "xbar", "adapt", "rtl", "energy", "sim"},
    "sweep": {"core", "workload", "xbar", "adapt", "energy", "flows"},
    "cli": {"core", "workload", "xbar", "adapt", "rtl", "energy", "sim", "flows", "sweep", "launch"},
    "__init__": {"core", "xbar"},
    "launch": {"cli"},
    "__main__": {"cli"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
#: a module or function over its limit says why in its docstring with this word
REASON = "Long because"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["xbar_hw", *parts])] = path
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """Absolute names of the project modules an ImportFrom reads."""
    if node.level:
        pkg = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = pkg[: len(pkg) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("xbar_hw"):
        return []
    # "from . import irdrop" names a module; "from .x import f" names x
    names = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    return names or [target]


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(module: str, path: Path, tree: ast.Module | None = None) -> list[tuple[str, ast.AST, list[str]]]:
    """(imported project module, node, names) for every import in the module."""
    tree = _parse(path) if tree is None else tree
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for target in _resolve(module, path, node):
                out.append((target, node, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("xbar_hw"):
                    out.append((a.name, node, []))
    return out


def _group(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def test_every_module_has_a_rule():
    groups = {_group(m) for m in MODULES}
    assert groups <= set(ALLOWED), sorted(groups - set(ALLOWED))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layout(module):
    path = MODULES[module]
    mine = _group(module)
    bad = []
    for target, node, _ in _imports(module, path):
        theirs = _group(target)
        if theirs != mine and theirs not in ALLOWED[mine]:
            bad.append(f"line {node.lineno}: {mine} imports {target} ({theirs})")
    assert not bad, bad


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_and_no_imports_in_functions(module):
    path = MODULES[module]
    tree = _parse(path)
    top = {id(n) for n in tree.body}
    # imports at module level, also inside a module-level try/if (optional or sys.path cases)
    for n in tree.body:
        if isinstance(n, (ast.Try, ast.If)):
            top.update(id(c) for c in ast.walk(n) if isinstance(c, (ast.Import, ast.ImportFrom)))
    bad = []
    for target, node, names in _imports(module, path, tree):
        if id(node) not in top:
            bad.append(f"line {node.lineno}: imports {target} inside a function")
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private:
            bad.append(f"line {node.lineno}: imports private {private} from {target}")
    assert not bad, bad


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = _parse(path)
        top = {id(n) for n in tree.body}
        edges = set()
        for target, node, _ in _imports(module, path, tree):
            if id(node) in top and target in MODULES and target != module:
                edges.add(target)
        graph[module] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            # a package's __init__ importing its own submodules is how a package is built
            if m.startswith(t + ".") or (t.startswith(m + ".") and MODULES[m].name == "__init__.py"):
                continue
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_circle():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()))


def test_the_circle_finder_finds_a_circle():
    assert _cycle({"xbar_hw.a": {"xbar_hw.b"}, "xbar_hw.b": {"xbar_hw.c"}, "xbar_hw.c": {"xbar_hw.a"}}) == [
        "xbar_hw.a", "xbar_hw.b", "xbar_hw.c", "xbar_hw.a"]
    assert _cycle({"xbar_hw.a": {"xbar_hw.b"}, "xbar_hw.b": set()}) is None


def test_core_imports_nothing_else_of_the_project():
    for module, path in MODULES.items():
        if _group(module) == "core":
            assert all(_group(t) == "core" for t, _, _ in _imports(module, path)), module


@pytest.mark.parametrize("module", sorted(MODULES))
def test_sizes(module):
    path = MODULES[module]
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    bad = []
    n_lines = len(text.splitlines())
    if n_lines > MAX_MODULE_LINES and REASON not in (ast.get_docstring(tree) or ""):
        bad.append(f"{n_lines} lines (over {MAX_MODULE_LINES}; say '{REASON} ...' in the module docstring)")
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and REASON not in (ast.get_docstring(node) or ""):
                bad.append(f"{node.name} (line {node.lineno}): {length} lines (over {MAX_FUNCTION_LINES})")
    assert not bad, bad
