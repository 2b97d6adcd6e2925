"""Keeping library chatter off the user's terminal: the one helper every loader and builder uses.

torch.export, torch.onnx, onnxscript and torchao log progress lines, print to
stdout and raise deprecation warnings that say nothing about the user's
model; a one-line error or a clean summary must not drown in them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Iterator, Sequence

#: torch's structured-trace logger (``torch._logging``), silenced by every :func:`quiet` block.
TRACE_LOGGER = "torch.__trace"


@contextlib.contextmanager
def quiet(loggers: Sequence[str], *, stdout: bool = False, categories: Sequence[type[Warning]] = (Warning,)) -> Iterator[None]:
    """Raise ``loggers`` to ERROR, ignore ``categories`` of warnings, optionally swallow stdout.

    Parameters
    ----------
    loggers : sequence of str
        Logger names (``""`` is the root logger); their levels are restored on exit.
    stdout : bool, optional
        Also discard what is printed to stdout inside the block (default False).
    categories : sequence of Warning subclasses, optional
        Warnings to ignore inside the block (default: all).
    """
    # torch's structured-trace logger ("torch.__trace") emits empty DEBUG
    # records from torch.export and fake tensors; under a DEBUG log capture
    # (pytest ``log_level=DEBUG``) they fill a failing gate's report with
    # blank lines, so every quiet block silences it too.
    handles = [logging.getLogger(name or None) for name in (*loggers, TRACE_LOGGER)]
    levels = [h.level for h in handles]
    for h in handles:
        h.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            for category in categories:
                warnings.simplefilter("ignore", category)
            if stdout:
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            yield
    finally:
        for h, level in zip(handles, levels):
            h.setLevel(level)
