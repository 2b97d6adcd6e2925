"""JSON renderer: the campaign record as strict, standard JSON.

Non-finite floats (``inf``, ``-inf``, ``nan``) have no representation in
standard JSON (RFC 8259).  :func:`to_jsonable` maps every one of them to
``None``, written as ``null``; for example a PSNR of ``inf`` (mutant equal to
the seed) is stored as ``"psnr": null``.  Files are dumped with
``allow_nan=False``, so a file written here never contains the non-standard
``Infinity`` / ``NaN`` tokens, and :func:`read_json` refuses files that do.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._atomic import atomic_write_text
from .schema import ReportError, check_report

__all__ = ["to_jsonable", "write_json", "read_json"]


def to_jsonable(report: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of `report` made of plain JSON types only.

    Parameters
    ----------
    report : Mapping[str, Any]
        A report record (or any mapping) that may hold NumPy scalars or
        arrays, tuples, paths, dates and non-finite floats.

    Returns
    -------
    dict[str, Any]
        A new dict; the input is not modified.  Conversions:

        - non-finite floats (``inf``, ``-inf``, ``nan``, also NumPy ones)
          become ``None``;
        - NumPy scalars become ``bool`` / ``int`` / ``float`` / ``str``;
          NumPy arrays, tuples, lists and sets become lists (converted
          element by element);
        - ``os.PathLike`` becomes ``str``; ``datetime`` / ``date`` become
          ISO-8601 strings;
        - mapping keys become ``str`` (as :func:`json.dumps` would).

    Raises
    ------
    ReportError
        If a value has no JSON form; the message gives its location, e.g.
        ``report['config']['model']``.

    Examples
    --------
    >>> import numpy as np
    >>> to_jsonable({"psnr": float("inf"), "n": np.int64(3), "v": np.ones(2)})
    {'psnr': None, 'n': 3, 'v': [1.0, 1.0]}
    """
    if not isinstance(report, Mapping):
        raise ReportError(
            f"report={type(report).__name__}: expected a mapping (the report dict)"
        )
    return _convert(report, "report")


def _convert(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _convert(value.item(), where)
    if isinstance(value, np.ndarray):
        return _convert(value.tolist(), where)
    if isinstance(value, Mapping):
        return {
            _key(k, where): _convert(v, f"{where}[{k!r}]") for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_convert(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return [_convert(v, f"{where}[*]") for v in sorted(value, key=repr)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    raise ReportError(
        f"{where}={value!r}: objects of type {type(value).__name__} have no JSON "
        "form; store plain numbers, strings, lists or dicts in the report"
    )


def _key(key: Any, where: str) -> str:
    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)) or key is None:
        return json.dumps(key)
    raise ReportError(
        f"{where}: key {key!r} of type {type(key).__name__} cannot be a JSON "
        "object key; use str keys"
    )


def write_json(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write `report` as strict JSON to `path`, atomically.

    Parameters
    ----------
    report : Mapping[str, Any]
        The report record; must carry ``schema_version == 1``.
    path : str or os.PathLike
        Destination file; parent folders are created.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ReportError
        If the schema version is missing or unsupported, or a value has no
        JSON form.

    Notes
    -----
    The record passes through :func:`to_jsonable` (non-finite floats become
    ``null``) and is dumped with ``indent=2``, key order preserved and
    ``allow_nan=False``.  The text goes to a temporary file in the same
    folder, then :func:`os.replace` moves it into place, so a reader never
    sees a half-written report even if the campaign is interrupted.
    """
    check_report(report)
    text = json.dumps(
        to_jsonable(report), indent=2, sort_keys=False, allow_nan=False,
        ensure_ascii=False,
    )
    return atomic_write_text(path, text + "\n")


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON token {token!r}")


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a report written by :func:`write_json` and check its version.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON report file.

    Returns
    -------
    dict[str, Any]
        The report record (non-finite values appear as ``None``).

    Raises
    ------
    ReportError
        If the file is not valid UTF-8 strict JSON (``NaN`` / ``Infinity``
        tokens are refused), its top level is not an object, or its
        ``schema_version`` is missing or unsupported.
    OSError
        If the file cannot be read (e.g. it does not exist).
    """
    source = os.fspath(path)
    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ReportError(
            f"path={source!r}: not a UTF-8 text file ({exc}); expected a JSON "
            "report written by diverfuzz"
        ) from exc
    except ValueError as exc:  # json.JSONDecodeError and _reject_constant
        raise ReportError(
            f"path={source!r}: not a valid JSON report ({exc}); expected a file "
            "written by reports.write_json"
        ) from exc
    check_report(data, source=f"path={source!r}")
    return data
