"""JSON renderer: the campaign record as strict, standard JSON.

Non-finite floats (``inf``, ``-inf``, ``nan``) have no representation in
standard JSON (RFC 8259).  :func:`to_jsonable` maps every one of them to
``None``, written as ``null``; for example a PSNR of ``inf`` (mutant equal to
the seed) is stored as ``"psnr": null``.  Files are dumped with
``allow_nan=False``, so a file written here never contains the non-standard
``Infinity`` / ``NaN`` tokens, and :func:`read_json` refuses files that do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from diverfuzz.common.atomic import atomic_write_text

from .errors import ReportError
from .jsonable import to_jsonable
from .schema import check_report

__all__ = ["to_jsonable", "write_json", "read_json"]


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
            "written by diverfuzz.reports.write_json"
        ) from exc
    check_report(data, source=f"path={source!r}")
    return data
