"""Report schema version, the package error type and the schema check.

The campaign writes one record (a plain ``dict``) per run; every renderer in
:mod:`reports` reads that same record.  This module holds what they share
about its shape: the version number, the error raised when a record is not
usable, and the check of that version.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["SCHEMA_VERSION", "ReportError", "check_report"]

#: Version of the report dict layout this package reads and writes.
SCHEMA_VERSION = 1


class ReportError(ValueError):
    """A report record or a value passed to a renderer is not usable.

    Subclasses :class:`ValueError` so callers that already catch bad
    arguments keep working.  The message names the offending value as
    ``name=value``, says what was expected and how to fix it.
    """


def check_report(report: Any, *, source: str = "report") -> Mapping[str, Any]:
    """Check that `report` is a mapping with a supported ``schema_version``.

    Parameters
    ----------
    report : Any
        The candidate report record.
    source : str, optional
        How to name the record in error messages (e.g. a file path).
        Default ``"report"``.

    Returns
    -------
    Mapping[str, Any]
        `report`, unchanged.

    Raises
    ------
    ReportError
        If `report` is not a mapping, has no ``schema_version`` key, or its
        version is not :data:`SCHEMA_VERSION`.

    Examples
    --------
    >>> check_report({"schema_version": 1})
    {'schema_version': 1}
    """
    if not isinstance(report, Mapping):
        raise ReportError(
            f"{source}: expected a JSON object (dict) at the top level, "
            f"got {type(report).__name__}; pass the campaign's report dict"
        )
    if "schema_version" not in report:
        raise ReportError(
            f"{source}: missing 'schema_version'; expected schema_version="
            f"{SCHEMA_VERSION}. Is this a diverfuzz report?"
        )
    version = report["schema_version"]
    # bool is an int subclass: reject True explicitly.
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise ReportError(
            f"{source}: unsupported schema_version={version!r}; this version of "
            f"diverfuzz reads schema_version={SCHEMA_VERSION} only. Re-run the "
            f"campaign or use the diverfuzz release that wrote the file"
        )
    return report
