"""The house rules, read from the code's own imports: layers point one way, no cycles, small
modules. docs/architecture.md lists the same layers; a change that breaks one fails here
with the offending import named.

Every ``import`` counts, at module level or inside a function (a lazy import is still a
dependency); only ``if TYPE_CHECKING:`` blocks are exempt. ``importlib.import_module`` of a
built-in plugin by name (``tracemint.plugins``) is how a low layer finds a high one
without depending on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
MAX_LINES = 500

# Lowest first. A module belongs to the layer of its longest matching prefix and may import
# modules of its own layer or lower ones, never higher. Within "stages", the stage modules
# (and the probes, which the run can apply as it mints) do not import each other's modules.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("leaves", ("tracemint.errors", "tracemint.records", "tracemint.registry",
                "tracemint.hardware", "tracemint.strategies", "tracemint._version")),
    ("plugins", ("tracemint.plugins",)),
    ("config", ("tracemint.config",)),
    ("teacher protocol, store", ("tracemint.teachers.base", "tracemint.store")),
    ("cache", ("tracemint.cache",)),
    ("reading and checking", ("tracemint.verify",)),
    ("teachers", ("tracemint.teachers",)),
    ("families", ("tracemint.synth",)),
    ("verifiers", ("tracemint.verify.base", "tracemint.verify.answer_verifier",
                   "tracemint.verify.family_verifier", "tracemint.verify.step_verifier",
                   "tracemint.verify.answers", "tracemint.verify.rows")),
    ("stages", ("tracemint.stages", "tracemint.probes")),
    ("sources and curation", ("tracemint.sources", "tracemint.synth.written",
                              "tracemint.curate")),
    ("runner", ("tracemint.runner",)),
    ("augment", ("tracemint.augment",)),
    ("outputs", ("tracemint.export", "tracemint.report", "tracemint.view",
                 "tracemint.evaluate", "tracemint.train", "tracemint.labels")),
    ("api", ("tracemint.api", "tracemint")),
    ("cli, testing", ("tracemint.cli", "tracemint.testing", "tracemint.__main__",
                      "tracemint.teachers.testserver")),
]  # fmt: skip


def modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "tracemint").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = modules()


def layer_of(module: str) -> int:
    best, index = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best:
                best, index = len(prefix), i
    assert index >= 0, f"{module} is in no layer: add it to LAYERS (and docs/architecture.md)"
    return index


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for n in ast.walk(node)}
    return out


def imports(module: str) -> Iterator[tuple[str, int]]:
    """(imported tracemint module, line) for every import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            # "from pkg import submodule" depends on the submodule (and runs pkg/__init__,
            # which is the package's own business); "from pkg import name" on pkg itself
            names = subs if len(subs) == len(node.names) else [base, *subs]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name, node.lineno


GRAPH = {m: sorted(set(imports(m))) for m in MODULES}


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_upward_imports() -> None:
    bad = []
    for module, deps in GRAPH.items():
        for dep, line in deps:
            if layer_of(dep) > layer_of(module):
                bad.append(
                    f"{MODULES[module].relative_to(SRC)}:{line}: {module} "
                    f"({LAYERS[layer_of(module)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})"
                )
    assert bad == [], "\n".join(bad)


def test_stages_do_not_import_each_other() -> None:
    def unit(m: str) -> str | None:
        for pkg in ("tracemint.stages.", "tracemint.probes."):
            if m.startswith(pkg):
                return m
        return None

    bad = [
        f"{m} imports {d}"
        for m, deps in GRAPH.items()
        for d, _ in deps
        if unit(m) and unit(d) and not d.endswith(".base") and m.split(".")[1] != d.split(".")[1]
    ]
    assert bad == [], "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: [d for d, _ in deps] for m, deps in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_cycles() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_500_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(SRC)}: {lines} lines"


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    """The rules can fail: a made-up edge from the records leaf up to the CLI is both."""
    GRAPH["tracemint.records"].append(("tracemint.cli", 1))
    try:
        assert any("tracemint.records" in c for c in _cycles())
        assert layer_of("tracemint.cli") > layer_of("tracemint.records")
    finally:
        GRAPH["tracemint.records"].pop()
