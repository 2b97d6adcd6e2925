"""Report schema version, the package error type and the schema checks.

The campaign writes one record (a plain ``dict``) per run; every renderer in
:mod:`diverfuzz.reports` reads that same record.  This module holds what they share
about its shape: the version number, the error raised when a record is not
usable, the quick check of that version (:func:`check_report`, which every
renderer runs) and the full check against the documented JSON Schema,
``diverfuzz/reports/report.schema.json`` (:func:`validate_report`).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Mapping

import jsonschema

from .errors import ReportError
from .jsonable import to_jsonable

__all__ = ["SCHEMA_VERSION", "ReportError", "check_report", "load_schema", "validate_report"]

#: File name of the JSON Schema (draft 2020-12) inside the package.
SCHEMA_FILE = "report.schema.json"

#: Version of the report dict layout this package reads and writes.
SCHEMA_VERSION = 1


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


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The record's JSON Schema (draft 2020-12), ``diverfuzz/reports/report.schema.json``.

    Returns
    -------
    dict[str, Any]
        A fresh copy of the parsed schema, with a ``description`` per field.
    """
    return json.loads(_schema_text())


def _where(path: Any) -> str:
    return "report" + "".join(f"[{p!r}]" for p in path)


def validate_report(report: Any) -> None:
    """Check `report` against the documented schema (``report.schema.json``).

    Parameters
    ----------
    report : Any
        A campaign record, as built in memory (NumPy scalars and non-finite
        floats are accepted: they are checked in their JSON form, see
        :func:`diverfuzz.reports.json_report.to_jsonable`) or as read back from JSON.

    Raises
    ------
    ReportError
        If the version is unsupported (as :func:`check_report`), or a
        required key is missing or has the wrong type.  The message names the
        location, e.g. ``report['summary']['seeds']``, what was found and
        what the schema expects.

    Notes
    -----
    The whole schema is enforced with ``jsonschema`` (types, ranges, nested
    chains), a run-time dependency.

    Examples
    --------
    >>> validate_report({"schema_version": 1, "config": {}, "divergences": [],
    ...     "summary": {"seeds": 0, "seeds_disagreeing_initially": 0,
    ...                 "seeds_with_divergence": 0, "success_rate": 0.0,
    ...                 "queries": 0, "median_queries_to_first_divergence": None,
    ...                 "wall_seconds": 0.1}})
    """
    check_report(report)
    record = to_jsonable(report)
    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(record))
    if error is not None:
        raise ReportError(
            f"{_where(error.absolute_path)}: {error.message}; the record does not "
            f"match {SCHEMA_FILE} (schema_version={SCHEMA_VERSION}). Re-render it "
            "from the campaign corpus or fix the field named here"
        )
