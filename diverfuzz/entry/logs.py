"""Library warnings and log records of a command: into ``DIR/diverfuzz.log``, on screen only with ``--verbose``.

torchao, torch.export and ONNX Runtime warn about things that say nothing
about the user's models (torchao's "The input of maxpool2d is not quantized"
runs to about 1,000 characters on every ``int8-static`` build). A command
collects them, with every record of the ``diverfuzz`` loggers
(:data:`diverfuzz.models.quiet.LIBRARY_LOGGER`), and appends them to
``diverfuzz.log`` in its output folder when it ends, if that folder exists:
a run that fails before creating its folder leaves none behind.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from pathlib import Path
from typing import Iterator

LOG_FILE = "diverfuzz.log"
#: Loggers a command routes: diverfuzz's own, and Python warnings (``logging.captureWarnings``).
ROUTED = ("diverfuzz", "py.warnings")


class _Collected(logging.Handler):
    """Keeps formatted records; :meth:`write` appends them to a file."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break a command
            self.handleError(record)

    def write(self, folder: Path | None) -> Path | None:
        if not self.lines or folder is None or not folder.is_dir():
            return None
        path = folder / LOG_FILE
        try:
            with path.open("a", encoding="utf-8") as f:
                f.write("\n".join(self.lines) + "\n")
        except OSError:  # a read-only or full folder: the command's result matters more
            return None
        return path


class _Stderr(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record (a progress bar may have redirected it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # set by StreamHandler.__init__; sys.stderr is read at each record
        pass


@contextlib.contextmanager
def library_log(folder: str | Path | None, *, verbose: bool = False) -> Iterator[None]:
    """Route library warnings and ``diverfuzz`` log records to ``folder/diverfuzz.log`` (and stderr if ``verbose``).

    Parameters
    ----------
    folder : path-like or None
        The command's output folder; the log is appended there when the
        block ends, if the folder exists then (None: no file).
    verbose : bool, optional
        Also print each record on stderr as it comes.
    """
    collected = _Collected()
    handlers: list[logging.Handler] = [collected, *([_Stderr()] if verbose else [])]
    loggers = [logging.getLogger(name) for name in ROUTED]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)
        lg.propagate = False  # no root handler or last resort prints them on screen
        for handler in handlers:
            lg.addHandler(handler)
    captured = getattr(warnings.showwarning, "__module__", None) == "logging"  # already routed by someone else
    logging.captureWarnings(True)
    try:
        yield
    finally:
        if not captured:
            logging.captureWarnings(False)
        for lg, (level, propagate) in zip(loggers, saved):
            for handler in handlers:
                lg.removeHandler(handler)
            lg.setLevel(level)
            lg.propagate = propagate
        collected.write(Path(folder) if folder is not None else None)
