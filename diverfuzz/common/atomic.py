"""Atomic file writes: the one helper every writer uses (reports, regression
corpus, weights cache), so a reader never sees a partial file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "atomic_write_text"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Create ``path`` through ``write(tmp)`` on a temporary file, then move it in place.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; missing parent folders are created.
    write : callable
        Writes the whole content to the temporary path it is given (for
        example ``lambda tmp: save_file(tensors, str(tmp))``).

    Returns
    -------
    pathlib.Path
        The destination path. The file gets the permissions a plain
        ``open()`` would (0666 less the umask), not mkstemp's 0600.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        write(Path(tmp_name))
        with open(tmp_name, "rb+") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, dest)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return dest


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically (see :func:`atomic_write`)."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    return atomic_write(path, write)
