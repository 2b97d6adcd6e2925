"""HTML renderer: one self-contained page per campaign record.

The page has no external resources: styles are inline and images are
``data:image/png;base64`` URIs.  Every string from the record (config values,
relation names, labels, paths) is escaped by Jinja2's autoescaping; the
template uses no ``|safe``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jinja2

from ._atomic import atomic_write_text
from .formatting import (
    MISSING,
    format_chain,
    format_number,
    format_value,
    summary_rows,
    top_probability,
)
from .images import (
    DivergenceImages,
    array_to_png_data_uri,
    difference_image,
    max_abs_difference,
)
from .schema import ReportError, check_report

__all__ = ["write_html", "render_html"]

_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_TEMPLATE_NAME = "report.html.j2"
#: Small images are enlarged by an integer factor up to about this size.
_TARGET_PIXELS = 128
_VALIDITY_ORDER = ("ssim", "psnr", "l0", "l2", "linf")


@dataclass(frozen=True)
class _Figure:
    uri: str
    caption: str
    alt: str
    width: int
    height: int


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _figures(div_id: Any, images: DivergenceImages) -> list[_Figure]:
    shape = images.seed.shape
    height, width = shape[-2], shape[-1]
    scale = max(1, _TARGET_PIXELS // max(height, width))
    w, h = width * scale, height * scale
    peak = float(max_abs_difference(images.seed, images.mutant).max())
    return [
        _Figure(array_to_png_data_uri(images.seed), "seed",
                f"seed input of divergence {div_id}", w, h),
        _Figure(array_to_png_data_uri(images.mutant), "mutant",
                f"mutant of divergence {div_id}", w, h),
        _Figure(array_to_png_data_uri(difference_image(images.seed, images.mutant)),
                f"|mutant − seed|, scaled to its max ({peak:.4g})",
                f"absolute difference of divergence {div_id}", w, h),
    ]


def _validity_rows(validity: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    validity = validity or {}
    keys = [k for k in _VALIDITY_ORDER if k in validity]
    keys += [k for k in validity if k not in _VALIDITY_ORDER]
    return [(str(k), format_number(validity[k], digits=4)) for k in keys]


def _divergence_view(
    div: Mapping[str, Any], images: Mapping[int, DivergenceImages]
) -> dict[str, Any]:
    div_id = div.get("id")
    figures: list[_Figure] = []
    if div_id in images:
        entry = images[div_id]
        if not isinstance(entry, DivergenceImages):
            raise ReportError(
                f"images[{div_id!r}]={type(entry).__name__}: expected a "
                "DivergenceImages(seed=..., mutant=...)"
            )
        figures = _figures(div_id, entry)
    return {
        "id": format_number(div_id),
        "seed_index": format_number(div.get("seed_index")),
        "reference_label": format_value(div.get("reference_label")),
        "candidate_label": format_value(div.get("candidate_label")),
        "reference_top": top_probability(div.get("reference_probs")),
        "candidate_top": top_probability(div.get("candidate_probs")),
        "fitness": format_number(div.get("fitness"), digits=4),
        "queries": format_number(div.get("queries")),
        "found_at": format_value(div.get("found_at")),
        "chain": format_chain(div.get("chain")),
        "validity": _validity_rows(div.get("validity")),
        "figures": figures,
    }


def render_html(
    report: Mapping[str, Any],
    images: Mapping[int, DivergenceImages] | None = None,
    *,
    max_divergences: int = 200,
) -> str:
    """Render `report` as a self-contained HTML page and return the text.

    Parameters are those of :func:`write_html`.
    """
    check_report(report)
    if isinstance(max_divergences, bool) or not isinstance(max_divergences, int) \
            or max_divergences < 0:
        raise ReportError(
            f"max_divergences={max_divergences!r}: expected an int >= 0"
        )
    images = images or {}
    divergences = list(report.get("divergences") or [])
    shown = divergences[:max_divergences]
    tool = report.get("tool") or {}
    context = {
        "tool_name": format_value(tool.get("name", "diverfuzz")),
        "tool_version": format_value(tool.get("version")),
        "schema_version": format_value(report.get("schema_version")),
        "summary": summary_rows(report.get("summary")),
        "config": [(str(k), format_value(v)) for k, v in
                   (report.get("config") or {}).items()],
        "workload": [(str(k), format_value(v)) for k, v in
                     (report.get("workload") or {}).items()],
        "versions": [(str(k), format_value(v)) for k, v in
                     (report.get("versions") or {}).items()],
        "divergences": [_divergence_view(d, images) for d in shown],
        "total": len(divergences),
        "omitted": len(divergences) - len(shown),
        "missing": MISSING,
    }
    return _environment().get_template(_TEMPLATE_NAME).render(**context)


def write_html(
    report: Mapping[str, Any],
    path: str | os.PathLike[str],
    images: Mapping[int, DivergenceImages] | None = None,
    *,
    max_divergences: int = 200,
) -> Path:
    """Write `report` as one self-contained HTML file.

    Parameters
    ----------
    report : Mapping[str, Any]
        The campaign record (``schema_version == 1``).
    path : str or os.PathLike
        Destination file; written atomically, parent folders created.
    images : Mapping[int, DivergenceImages], optional
        Seed and mutant arrays keyed by divergence ``id``.  Divergences with
        an entry show the seed, the mutant and their difference side by
        side; the others show text only.  Default: no images.
    max_divergences : int, optional
        Show at most this many divergences (in record order); the page says
        how many were omitted.  Must be >= 0.  Default 200.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    ReportError
        If the schema version is unsupported, `max_divergences` is negative,
        or an image entry is malformed.

    Notes
    -----
    Images smaller than about 128 px are enlarged by an integer factor
    (``width`` / ``height`` attributes) and drawn with
    ``image-rendering: pixelated`` so each input pixel stays a sharp square.
    The difference image is ``|mutant - seed|`` (maximum over channels)
    divided by its maximum; the caption states that maximum.
    """
    text = render_html(report, images, max_divergences=max_divergences)
    return atomic_write_text(path, text)
