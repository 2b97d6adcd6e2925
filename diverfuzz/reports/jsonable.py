"""Report records as plain JSON types (NumPy scalars, arrays, paths, dates, non-finite floats)."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from typing import Any, Mapping

import numpy as np

from .errors import ReportError


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
