"""The one error type of the reports package."""

from __future__ import annotations


class ReportError(ValueError):
    """A report record or a value passed to a renderer is not usable.

    Subclasses :class:`ValueError` so callers that already catch bad
    arguments keep working.  The message names the offending value as
    ``name=value``, says what was expected and how to fix it.
    """
