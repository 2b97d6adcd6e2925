"""The one error type diverfuzz raises for bad user input."""

from __future__ import annotations


class DiverfuzzError(ValueError):
    """A bad argument, file, model or dataset.

    The message names the offending argument as ``name=value``, what was
    expected, and how to fix it. The CLI prints it on one line and exits 2.
    """


class ModelError(DiverfuzzError):
    """A user model (or its factory) raised, or returned something unusable."""
