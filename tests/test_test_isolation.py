"""The test suite never imports itself as ``tests``: a shadowing ``tests`` package cannot break it.

``significantdigits`` pulls in ``icecream``, which installs a top-level
``tests`` package into site-packages. Any ``import tests.x`` in this suite
would resolve to whichever ``tests`` comes first on ``sys.path``, so shared
helpers are conftest fixtures instead (``planted``, ``seeded_mlp``, ...).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

# A fast test file that uses a conftest fixture (``planted``): it must pass
# with a foreign ``tests`` package first on sys.path.
PROBE = TESTS / "fuzzer" / "test_shrink.py"


def _imports_of_tests(source: str, filename: str = "<string>") -> list[str]:
    """Every ``import tests[.x]`` / ``from tests[.x] import ...`` in ``source``, as ``line: statement``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name == "tests" or name.startswith("tests."):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_catches_every_spelling_of_a_tests_import():
    bad = textwrap.dedent(
        """
        import tests
        import tests.planted
        import numpy, tests.nets as n
        from tests import planted
        from tests.planted import reference

        def f():
            from tests.nets import seeded_mlp
        """
    )
    assert len(_imports_of_tests(bad)) == 6
    fine = textwrap.dedent(
        """
        import testsuite
        import mytests.x
        from . import tests
        from .tests import x
        from testing import tests
        import pytest
        """
    )
    assert _imports_of_tests(fine) == []


def test_no_test_module_imports_the_tests_package():
    files = sorted(p for p in TESTS.rglob("*.py") if p.name != "conftest.py")
    assert len(files) > 50, files  # really scanning the suite
    assert Path(__file__).resolve() in {p.resolve() for p in files}
    offenders = {
        str(p.relative_to(ROOT)): hits
        for p in files
        if (hits := _imports_of_tests(p.read_text(encoding="utf-8"), str(p)))
    }
    assert offenders == {}, "use a conftest fixture instead of importing tests.*"


def test_a_shadowing_tests_package_first_on_sys_path_does_not_break_the_suite(tmp_path):
    shadow = tmp_path / "tests"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("SHADOW = True\n")
    for helper in ("planted", "nets", "conftest"):
        (shadow / f"{helper}.py").write_text(f"raise RuntimeError('the shadow tests.{helper} was imported')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    script = textwrap.dedent(
        f"""
        import sys
        import tests
        assert getattr(tests, "SHADOW", False), tests.__file__  # the shadow wins the name `tests`
        import pytest
        sys.exit(pytest.main([
            {str(PROBE)!r}, "-q", "-p", "no:cacheprovider",
            "-c", {str(ROOT / "pyproject.toml")!r}, "--rootdir", {str(ROOT)!r},
        ]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    summary = [line for line in proc.stdout.splitlines() if line.strip()][-1]
    assert re.match(r"\d+ passed\b", summary.strip("= ")), output
    assert "failed" not in summary and "error" not in summary, output
