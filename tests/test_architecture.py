"""The house rules, as tests: import-linter's contracts hold, and the package
graph (every import, function-level ones included) has no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fuzzer", "relations", "oracles", "defenses", "reports")
#: Sub-packages of ``fuzzer`` that are nodes of their own in the package graph.
FUZZER_PARTS = ("entry", "campaign", "search", "models", "errors", "atomic")
#: Deprecated aliases at the old locations: they import upward by design and nothing imports them.
ALIASES = {"fuzzer.check", "fuzzer.precision"}


def _node(module: str) -> str | None:
    """The package-graph node of a dotted module name (None: outside the project)."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    if parts[0] == "fuzzer" and len(parts) > 1 and parts[1] in (*FUZZER_PARTS, "__main__"):
        return f"fuzzer.{parts[1]}"
    return parts[0]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every imported project module in ``path`` (at any depth), with its line."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from pkg import submodule` imports the submodule too.
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return found


def package_graph() -> dict[str, set[str]]:
    """Edges between project packages, from every import statement in the code."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module_name(path)
            if module in ALIASES:
                continue
            source = _node(module)
            graph.setdefault(source, set())
            for target, _ in _imports(path):
                node = _node(target)
                if node is not None and node != source and target not in ALIASES:
                    graph[source].add(node)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a list of nodes, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_detects_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_package_graph_is_acyclic():
    graph = package_graph()
    # The graph is real: the expected downward edges are there.
    assert "fuzzer.models" in graph["oracles"]
    assert "fuzzer.campaign" in graph["fuzzer.entry"]
    assert find_cycle(graph) is None, f"import cycle between packages: {' -> '.join(find_cycle(graph))}"


def test_import_linter_contracts_are_kept():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("module", ["fuzzer.campaign.config", "fuzzer.campaign.config_file", "fuzzer.entry.cli"])
def test_reading_a_config_imports_neither_torch_nor_deap(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'deap') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_deprecated_aliases_still_import_the_documented_names():
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "try:\n    import fuzzer.precision\nexcept DeprecationWarning as w:\n    print('warned', w)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "warned fuzzer.precision moved to fuzzer.models.precision" in proc.stdout, proc.stderr
    proc = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c",
         "from fuzzer.precision import quantize_float, quantize_fixed; from fuzzer.check import check; "
         "import relations; print(len(relations.REGISTRY) > 0, callable(check))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.stdout.strip() == "True True", proc.stderr
