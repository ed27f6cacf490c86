"""The relforge import graph: every module imports, and no two relforge modules depend on each other.

The graph is read from the source with ``ast`` and counts every ``import`` of a relforge module,
those at the top of a file and those inside functions alike (a lazy import is still a dependency);
``TYPE_CHECKING`` blocks are not dependencies. Data flows one way (docs/architecture.md), so the
graph must be acyclic.
"""
import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "relforge"

# Cycles in modules owned by other work in progress of issue 15 (db/io <-> db/sql_io and Database,
# generate/like <-> generate/sql, the callable ``relforge.generate``); the lead empties this list when
# those branches are merged, and the test then holds for the whole package.
KNOWN_ELSEWHERE: list[set] = [{"relforge.db.database", "relforge.db.io", "relforge.db.sql_io"},
                              {"relforge.generate.like", "relforge.generate.sql"},
                              {"relforge", "relforge.generate.pipeline"}]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str) -> set[str]:
    """relforge modules that module ``name`` imports (a ``from pkg import sub`` counts as ``pkg.sub``)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    skip = {id(n) for t in ast.walk(tree) if _is_type_checking(t) for n in ast.walk(t)}
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # "relforge.x.y.Name" -> the module that defines it
                t = t.rpartition(".")[0]
            if t.startswith("relforge") and t != name:
                out.add(t)
    return out


def graph() -> dict[str, set[str]]:
    return {m: imports_of(m) for m in MODULES}


def cycles(g: dict[str, set[str]]) -> list[set]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10_000))
    try:
        for v in sorted(g):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(old)
    return out


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_graph_reads_lazy_and_relative_imports():
    g = graph()
    assert "relforge.model.checkpoint" in g["relforge.predict.autocomplete"]
    assert "relforge.train.loop" in g["relforge.experiments.transfer"]
    assert "relforge.batch" in g["relforge.model.rt"]


def test_no_import_cycle_between_relforge_modules():
    found = cycles(graph())
    unexpected = [sorted(c) for c in found if not any(c <= k for k in KNOWN_ELSEWHERE)]
    assert not unexpected, f"import cycles: {unexpected}"


def test_model_half_imports_one_way():
    """tokens -> contexts -> model -> training/evaluation: the lower stages never import the upper."""
    g = graph()
    order = ["relforge.batch", "relforge.tokenize", "relforge.model", "relforge.inference", "relforge.train",
             "relforge.predict", "relforge.experiments"]

    def stage(m):
        hits = [i for i, p in enumerate(order) if m == p or m.startswith(p + ".")]
        return hits[-1] if hits else None

    bad = [(m, d) for m, deps in g.items() for d in deps
           if stage(m) is not None and stage(d) is not None and stage(d) > stage(m)]
    assert not bad, f"imports against the stage order: {bad}"
    assert not any(d.startswith("relforge.realdata") for m in g if m.startswith("relforge.tokenize") for d in g[m])
    assert not any(d == "relforge.realdata._common" for m in g if m.startswith("relforge.predict") for d in g[m])


@pytest.mark.parametrize("name", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_imports(name):
    importlib.import_module(name)
