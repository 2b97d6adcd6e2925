"""The house rules, as tests: one import package, one layer per folder, imports only go down.

import-linter's contracts (``pyproject.toml``) are the authority; the package graph here
(every import statement, function-level ones included) is a second, independent reading.
"""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "diverfuzz"
#: The folders directly under diverfuzz/, highest layer first (as in pyproject.toml).
LAYERS = ("entry", "supervisors", "fuzzer", "defenses", "reports", "oracles", "models", "relations", "common")
#: Layers that share a rung: neither may import the other.
SIBLINGS = {"defenses": 3, "reports": 3}


def _rank(layer: str) -> int:
    order = {"entry": 0, "supervisors": 1, "fuzzer": 2, "defenses": 3, "reports": 3, "oracles": 4, "models": 5,
             "relations": 6, "common": 7}
    return order[layer]


def _node(module: str) -> str | None:
    """The folder (layer) of a dotted module name; None outside diverfuzz's folders."""
    parts = module.split(".")
    if parts[0] != "diverfuzz" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return parts[1]


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[str, int]]:
    """Every imported module in ``path`` (at any depth, so function-level imports count), with its line."""
    module = _module_name(path, root)
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


def package_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Edges between diverfuzz's folders, from every import statement in the code."""
    graph: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for path in sorted(root.rglob("*.py")):
        source = _node(_module_name(path, root))
        if source is None:
            continue
        for target, _ in _imports(path, root):
            node = _node(target)
            if node is not None and node != source:
                graph[source].add(node)
    return graph


def upward_edges(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Edges from a folder to one on its own rung or higher."""
    return sorted((a, b) for a, targets in graph.items() for b in targets if _rank(b) <= _rank(a))


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


def test_every_folder_under_diverfuzz_is_a_declared_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(LAYERS)
    modules = {p.name for p in PACKAGE.glob("*.py")}
    assert modules == {"__init__.py", "__main__.py"}


def test_folder_graph_only_goes_down():
    graph = package_graph()
    # The graph is real: the expected downward edges are there.
    assert "models" in graph["oracles"]
    assert "fuzzer" in graph["entry"]
    assert "common" in graph["relations"] or "common" in graph["models"]
    assert upward_edges(graph) == []
    assert find_cycle(graph) is None


def _lint_imports(cwd: Path, env_path: Path) -> subprocess.CompletedProcess:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(env_path), "HOME": str(cwd)},
    )


def test_import_linter_contracts_are_kept():
    proc = _lint_imports(ROOT, ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_layers_contract_fails_when_a_lower_folder_imports_a_higher_one(tmp_path):
    """A copy of the package where diverfuzz.common imports the CLI inside a function: both checks fail."""
    shutil.copytree(PACKAGE, tmp_path / "diverfuzz", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    atomic = tmp_path / "diverfuzz" / "common" / "atomic.py"
    atomic.write_text(atomic.read_text() + "\n\ndef _upward():\n    from diverfuzz.entry import cli\n\n    return cli\n")
    assert upward_edges(package_graph(tmp_path / "diverfuzz")) == [("common", "entry")]
    proc = _lint_imports(tmp_path, tmp_path)
    assert proc.returncode != 0, proc.stdout[-4000:]
    assert "Layers: entry > supervisors" in proc.stdout and "BROKEN" in proc.stdout
    assert "diverfuzz.common.atomic -> diverfuzz.entry.cli" in proc.stdout


def test_the_distribution_installs_one_top_level_name(tmp_path):
    """The installed distribution declares one import name, and the wheel it builds holds one package."""
    dist = importlib.metadata.distribution("diverfuzz")
    assert dist.read_text("top_level.txt").split() == ["diverfuzz"]
    assert {name for name, dists in importlib.metadata.packages_distributions().items() if "diverfuzz" in dists} == {
        "diverfuzz"
    }
    entry_points = {(ep.group, ep.name, ep.value) for ep in dist.entry_points}
    assert ("console_scripts", "diverfuzz", "diverfuzz.entry.cli:main") in entry_points
    assert ("pytest11", "diverfuzz", "diverfuzz.entry.pytest_plugin") in entry_points
    # An editable install lists the sdist's sources (tests/ included) as its files; the
    # wheel's RECORD is what a real install puts on sys.path.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("diverfuzz-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top = {PurePosixPath(name).parts[0] for name in archive.namelist()}
        assert "diverfuzz/reports/templates/report.html.j2" in archive.namelist()
    assert {name for name in top if not name.endswith(".dist-info")} == {"diverfuzz"}


@pytest.mark.parametrize(
    "module", ["diverfuzz.fuzzer.campaign.config", "diverfuzz.fuzzer.campaign.config_file", "diverfuzz.entry.cli",
               "diverfuzz.relations"]
)
def test_reading_a_config_imports_neither_torch_nor_deap(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'deap') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("old", ["fuzzer", "relations", "oracles", "defenses", "reports"])
def test_no_old_top_level_names(old, tmp_path):
    """No shim under the old names: a user's folder of that name is theirs alone."""
    proc = subprocess.run([sys.executable, "-c", f"import {old}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr
