"""Render one campaign record into every report format at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import ReportError
from .html_report import write_html
from .images import DivergenceImages
from .json_report import write_json
from .junit_report import write_junit
from .markdown_report import write_markdown
from .schema import check_report

__all__ = ["FORMATS", "FILE_NAMES", "render_all"]

#: Formats :func:`render_all` can write, in the order it writes them.
FORMATS = ("json", "html", "md", "junit")
#: File written for each format inside the output folder.
FILE_NAMES = {
    "json": "report.json",
    "html": "report.html",
    "md": "report.md",
    "junit": "junit.xml",
}


def render_all(
    report: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    images: Mapping[int, DivergenceImages] | None = None,
    formats: Sequence[str] = ("html", "md", "json", "junit"),
) -> dict[str, Path]:
    """Write `report` in each of `formats` into `out_dir`.

    Parameters
    ----------
    report : Mapping[str, Any]
        The campaign record (``schema_version == 1``).
    out_dir : str or os.PathLike
        Destination folder, created if missing.  It is also the folder the
        HTML and Markdown reports name in their ``diverfuzz replay`` commands,
        so pass the campaign's output folder (the one holding its corpus).
    images : Mapping[int, DivergenceImages], optional
        Seed and mutant arrays by divergence id, shown in the HTML report.
        Default: none.
    formats : sequence of str, optional
        Any of ``"html"`` (``report.html``), ``"md"`` (``report.md``),
        ``"json"`` (``report.json``) and ``"junit"`` (``junit.xml``).
        Default: all four.

    Returns
    -------
    dict[str, pathlib.Path]
        The written file of each requested format, by format name.

    Raises
    ------
    ReportError
        If `formats` is empty or names an unknown format, or the record's
        schema version is unsupported (checked before anything is written).

    Notes
    -----
    Each file is written atomically (temporary file, then rename), so a
    reader sees either the previous file or the new one.  The record is not
    checked against the full schema here; call
    :func:`diverfuzz.reports.schema.validate_report` for that.

    Examples
    --------
    >>> import tempfile
    >>> rec = {"schema_version": 1, "summary": {}, "divergences": []}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     sorted(render_all(rec, tmp, formats=["md", "junit"]))
    ['junit', 'md']
    """
    if isinstance(formats, str):
        formats = (formats,)
    requested = list(dict.fromkeys(formats))
    unknown = [f for f in requested if f not in FILE_NAMES]
    if unknown or not requested:
        raise ReportError(
            f"formats={list(formats)!r}: expected one or more of "
            f"{', '.join(repr(f) for f in FORMATS)}"
        )
    check_report(report)
    folder = Path(out_dir)
    written: dict[str, Path] = {}
    for fmt in FORMATS:
        if fmt not in requested:
            continue
        path = folder / FILE_NAMES[fmt]
        if fmt == "json":
            written[fmt] = write_json(report, path)
        elif fmt == "html":
            written[fmt] = write_html(report, path, images, report_dir=out_dir)
        elif fmt == "md":
            written[fmt] = write_markdown(report, path, report_dir=out_dir)
        else:
            written[fmt] = write_junit(report, path)
    return written
