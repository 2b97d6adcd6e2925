"""A user's project may name its folders like diverfuzz's concerns: nothing of theirs shadows ours.

Before issue 22 diverfuzz installed ``reports``, ``relations``, ``oracles``, ``defenses`` and
``fuzzer`` as top-level import names, so ``pytest --diverfuzz-report reports`` worked once and
then failed with ``cannot import name 'SCHEMA_VERSION' from 'reports'``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

FOLDERS = ("reports", "relations", "oracles", "defenses", "fuzzer", "models", "tests")

GATE = textwrap.dedent(
    '''
    import numpy as np
    import torch


    def reference(x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1)


    SEEDS = np.clip(0.35 + np.random.default_rng(0).normal(0, 0.03, size=(6, 1, 8, 8)), 0, 1).astype(np.float32)


    def test_gate(diverfuzz):
        result = diverfuzz.check(reference, reference, SEEDS, budget=30, validity="linf<=0.5")
        result.assert_max_success_rate(0.0)
    '''
)


@pytest.mark.parametrize("packages", [False, True], ids=["plain-folders", "packages"])
def test_a_gate_runs_twice_beside_folders_named_like_diverfuzz_parts(pytester: pytest.Pytester, packages: bool):
    root = Path(pytester.path)
    for name in FOLDERS:
        (root / name).mkdir()
        (root / name / "notes.py").write_text(f"OWNER = 'the user, not diverfuzz ({name})'\n")
        if packages:
            (root / name / "__init__.py").write_text("SCHEMA_VERSION = 'the user\\'s'\n")
    (root / "tests" / "test_gate.py").write_text(GATE)
    for run in (1, 2):
        result = pytester.runpytest_subprocess("tests", "--diverfuzz-report", "reports", "-p", "no:cacheprovider")
        assert result.ret == 0, f"run {run}:\n" + "\n".join(result.outlines[-30:] + result.errlines[-30:])
        result.assert_outcomes(passed=1)
        written = [p for p in (root / "reports").iterdir() if p.is_dir() and "test_gate" in p.name]
        assert len(written) == 1, sorted(p.name for p in (root / "reports").iterdir())
        for name in ("report.json", "report.html", "report.md"):
            assert (written[0] / name).is_file(), (run, name)
        # The user's own files are untouched.
        assert (root / "reports" / "notes.py").read_text().startswith("OWNER")
