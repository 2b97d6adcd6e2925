"""Which commit a benchmark measured: every results file and generated doc names it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> tuple[str, bool]:
    """The short commit of the working tree and whether tracked files differ from it (``("?", False)`` outside git)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout
    # Results files a running benchmark appends to (bench/results/) do not change what it measures.
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
                             cwd=ROOT, capture_output=True, text=True, check=False).stdout
    dirty = changed.strip() != ""
    return commit.strip() or "?", dirty


def commit_label() -> str:
    """``"abc1234"``, or ``"abc1234 with uncommitted changes"`` when the tree differs from it."""
    commit, dirty = git_commit()
    return commit + (" with uncommitted changes" if dirty else "")
