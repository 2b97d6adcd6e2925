"""Where the real pairs' files are read from: ``../shared/realpairs`` beside the repository.

Real models and data (a checkpoint trained by others, CIFAR-10 test images,
the Indian Pines scene) are never downloaded at run time and never copied into
the repository: they are read from the folder ``$DIVERFUZZ_REALPAIRS`` names,
by default ``../shared/realpairs`` relative to the repository root (where CI
has it). A missing file raises a one-line :class:`DiverfuzzError` naming the
variable to set.
"""

from __future__ import annotations

import os
from pathlib import Path

from diverfuzz.common.errors import DiverfuzzError

#: The environment variable naming the real pairs' folder.
ENV = "DIVERFUZZ_REALPAIRS"


def realpairs_dir() -> Path:
    """``$DIVERFUZZ_REALPAIRS``, else ``<repository>/../shared/realpairs``."""
    override = os.environ.get(ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3].parent / "shared" / "realpairs"


def realpairs_file(relative: str, *, what: str, env: str | None = None) -> Path:
    """The file (or folder) ``relative`` under :func:`realpairs_dir`, or ``$env`` when set; a one-line error when absent."""
    path = Path(os.environ[env]) if env and os.environ.get(env) else realpairs_dir() / relative
    if not path.exists():
        hint = f"set {env} to the file or {ENV} to the folder holding {relative}" if env else f"set {ENV} to the folder holding {relative}"
        raise DiverfuzzError(f"{what} not found at {str(path)!r}: {hint} (it is never downloaded)")
    return path
