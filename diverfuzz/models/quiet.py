"""Keeping library chatter off the user's terminal: the one helper every loader and builder uses.

torch.export, torch.onnx, onnxscript and torchao log progress lines, print to
stdout and raise deprecation warnings that say nothing about the user's
model; a one-line error or a clean summary must not drown in them.

Warnings a :func:`quiet` block does not ignore (torchao's ~1,000-character
"The input of maxpool2d is not quantized" UserWarning, say) are not printed
either: they become records of the :data:`LIBRARY_LOGGER` logger, which the
command line writes to ``DIR/diverfuzz.log`` (and to stderr with
``--verbose``), and which Python callers see only if they configure logging.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Iterator, Sequence

#: torch's structured-trace logger (``torch._logging``), silenced by every :func:`quiet` block.
TRACE_LOGGER = "torch.__trace"
#: Where warnings raised inside a :func:`quiet` block go (as WARNING records).
LIBRARY_LOGGER = "diverfuzz.library"

# A library's loggers get a NullHandler: without one, Python's last-resort
# handler would print the records on stderr after all.
logging.getLogger("diverfuzz").addHandler(logging.NullHandler())


def log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A :func:`warnings.showwarning` that logs the warning to :data:`LIBRARY_LOGGER` instead of printing it."""
    logging.getLogger(LIBRARY_LOGGER).warning("%s:%s: %s: %s", filename, lineno, category.__name__, message)


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
        Warnings to ignore inside the block (default: all); any other warning
        raised inside is logged to :data:`LIBRARY_LOGGER`, not printed.
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
            warnings.showwarning = log_warning  # restored by catch_warnings
            for category in categories:
                warnings.simplefilter("ignore", category)
            if stdout:
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            yield
    finally:
        for h, level in zip(handles, levels):
            h.setLevel(level)
