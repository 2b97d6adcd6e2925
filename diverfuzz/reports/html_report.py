"""HTML renderer: one self-contained page per campaign record.

The page has no external resources and no scripts: styles are inline,
images are ``data:image/png;base64`` URIs and charts are inline SVG.  Every
string from the record (config values, relation names, labels, paths) is
escaped by Jinja2's autoescaping, after control characters are made visible
(:func:`diverfuzz.reports.formatting.clean_text`); the template uses no ``|safe``.  The
charts arrive as :class:`markupsafe.Markup` built by
:func:`diverfuzz.reports.charts.bar_chart_svg`, which escapes its labels itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import jinja2
from markupsafe import Markup

from diverfuzz.common.atomic import atomic_write_text

from .aggregate import (
    effective_chain,
    label_change_counts,
    label_matrix,
    relation_counts,
)
from .estimate_view import estimate_grid
from .explain_view import explain_view
from .charts import bar_chart_svg
from .errors import ReportError
from .formatting import (
    MISSING,
    SUMMARY_HELP,
    clean_text,
    correct_text,
    format_chain,
    format_geometry,
    format_number,
    format_value,
    is_near_tie,
    margin_text,
    overview_rows,
    replay_command,
    severity_text,
    top_probabilities,
    top_probability,
    warning_lines,
)
from .images import (
    DivergenceImages,
    array_to_png_data_uri,
    difference_image,
    max_abs_difference,
    signal_plot_data_uri,
)
from .schema import check_report

__all__ = ["write_html", "render_html"]

_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_TEMPLATE_NAME = "report.html.j2"
#: Small images are enlarged by an integer factor up to about this size.
_TARGET_PIXELS = 128
_VALIDITY_ORDER = ("ssim", "psnr", "l0", "l2", "linf")

#: What each per-divergence metric means: the tooltips and the legend.
METRIC_HELP: dict[str, str] = {
    "fitness": "Search fitness of the mutant when found (margin-based; for ranking within a strategy).",
    "queries": "Search queries spent on this seed when the divergence was found.",
    "ssim": "Structural similarity of mutant and seed, in [0, 1]; 1 = identical.",
    "psnr": "Peak signal-to-noise ratio of the mutant against the seed, in dB; ∞ = identical.",
    "l0": "Share of input values the mutant changed.",
    "l2": "Euclidean distance between mutant and seed.",
    "linf": "Largest change of any single input value.",
    "minimal distance": "L2 distance of the shrunk (minimal) mutant from its seed.",
    "shrink queries": "Candidate chains the shrinker tried (outside the search budget).",
    "cluster size": "Divergences of the same cluster (label pair and relations) this one stands for.",
    "cluster": "Cluster this divergence belongs to.",
    "triage": "MCA triage: precision-induced (the reference is stable there) or reference-unstable; not triaged (and why) where MCA cannot instrument the reference's arithmetic.",
    "reference significant bits": "Mean significant bits of the reference's logits under MCA (at most 24).",
    "reference label stability": "Share of MCA runs in which the reference keeps its label, in [0, 1].",
    "found at": "When the divergence was found (UTC).",
    "severity": "Smallest natural severity (1-5) whose ranges admit every step of the chain; 0: no-op chain; — beyond severity 5.",
    "reference margin": "Top-1 minus top-2 probability of the reference on the mutant: near 0 (below 0.05) the reference is itself nearly undecided, a near-tie; near 1 it is sure and the candidate disagrees.",
    "candidate margin": "Top-1 minus top-2 probability of the candidate on the mutant.",
    "ssim after geometry": "SSIM of the mutant against the seed moved by the chain's geometric steps alone: the value changes the natural rule judged.",
    "psnr after geometry": "PSNR (dB) of the mutant against the seed moved by the chain's geometric steps alone: the value changes the natural rule judged.",
    "l0 after geometry": "Share of input values the value changes altered, against the moved seed.",
    "l2 after geometry": "Euclidean distance between mutant and moved seed.",
    "linf after geometry": "Largest change of any single input value, against the moved seed.",
}


@dataclass(frozen=True)
class _Figure:
    uri: str
    caption: str
    alt: str
    width: int
    height: int


def _finalize(value: Any) -> Any:
    # Runs on every {{ ... }} before autoescaping: Markup (the charts) is
    # already safe; any other value is shown with its controls made visible.
    if isinstance(value, Markup) or value is None:
        return value
    return clean_text(value)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATE_DIR),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _figures(div_id: Any, images: DivergenceImages) -> list[_Figure]:
    moved = images.moved
    if images.kind == "signal":
        channels = images.seed.shape[0]
        caption = ("seed (grey), moved seed (blue) and mutant (red)" if moved is not None
                   else "seed (grey) and mutant (red)")
        return [
            _Figure(signal_plot_data_uri(images.seed, images.mutant, moved=moved),
                    f"{caption}, one panel per channel, range [0, 1]",
                    f"seed and mutant signals of divergence {div_id}", 384, 56 * channels),
        ]
    shape = images.seed.shape
    height, width = shape[-2], shape[-1]
    scale = max(1, _TARGET_PIXELS // max(height, width))
    w, h = width * scale, height * scale
    base = images.base
    base_name = "seed" if moved is None else "moved seed"
    peak = float(max_abs_difference(base, images.mutant).max())
    figures = [
        _Figure(array_to_png_data_uri(images.seed), "seed",
                f"seed input of divergence {div_id}", w, h),
    ]
    if moved is not None:
        figures.append(_Figure(array_to_png_data_uri(moved), "moved seed (the chain's geometric steps alone)",
                               f"seed moved by the geometric steps of divergence {div_id}", w, h))
    figures += [
        _Figure(array_to_png_data_uri(images.mutant), "mutant",
                f"mutant of divergence {div_id}", w, h),
        _Figure(array_to_png_data_uri(difference_image(base, images.mutant)),
                f"|mutant − {base_name}|, scaled to its max ({peak:.4g})",
                f"absolute difference to the {base_name} of divergence {div_id}", w, h),
    ]
    return figures


def _validity_rows(validity: Mapping[str, Any] | None, suffix: str = "") -> list[tuple[str, str]]:
    validity = validity if isinstance(validity, Mapping) else {}
    keys = [k for k in _VALIDITY_ORDER if k in validity]
    keys += [k for k in validity if k not in _VALIDITY_ORDER]
    return [(f"{k}{suffix}", format_number(validity[k], digits=4)) for k in keys]


def _natural_view(div: Mapping[str, Any]) -> dict[str, Any]:
    """Severity, geometry, pixel metrics after the geometry and margins; each only when recorded."""
    rows: list[tuple[str, str]] = []
    if "severity" in div:
        rows.append(("severity", severity_text(div.get("severity"))))
    rows += _validity_rows(div.get("pixel_validity"), " after geometry")
    if "reference_margin" in div:
        rows.append(("reference margin", margin_text(div.get("reference_margin"))))
    if "candidate_margin" in div:
        rows.append(("candidate margin", margin_text(div.get("candidate_margin"))))
    pixel = div.get("pixel_validity") if isinstance(div.get("pixel_validity"), Mapping) else None
    validity = div.get("validity") if isinstance(div.get("validity"), Mapping) else {}
    parts: list[str] = []
    if "severity" in div:
        parts.append(f"severity {severity_text(div.get('severity'))}")
    geometry = format_geometry(div.get("geometry"))
    if geometry is not None:
        parts.append(f"geometry: {geometry}")
    if pixel:
        parts.append("after the geometry: " + ", ".join(
            f"{k} {format_number(pixel[k], digits=4)}" for k in ("psnr", "ssim") if k in pixel))
    if pixel is not None or geometry is not None:
        shown = ", ".join(f"{k} {format_number(validity[k], digits=4)}" for k in ("psnr", "ssim") if k in validity)
        if shown:
            parts.append(f"against the seed: {shown}")
    if "reference_margin" in div:
        parts.append(f"reference margin {margin_text(div.get('reference_margin'))}")
    if "candidate_margin" in div:
        parts.append(f"candidate margin {margin_text(div.get('candidate_margin'))}")
    near_tie = is_near_tie(div.get("reference_margin"))
    return {
        "rows": rows,
        "line": " · ".join(parts) if parts else None,
        "geometry": geometry,
        "near_tie": (
            f"Near-tie: the reference's top two probabilities differ by only "
            f"{margin_text(div.get('reference_margin'))} (below 0.05); the reference is itself nearly "
            "undecided on this mutant, so the disagreement may say little about the candidate."
        ) if near_tie else None,
    }


def _divergence_view(
    div: Mapping[str, Any], images: Mapping[int, DivergenceImages],
    report_dir: str | os.PathLike[str] | None,
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
    minimal = div.get("minimal_chain")
    shrink = []
    if div.get("minimal_distance") is not None:
        shrink.append(("minimal distance", format_number(div.get("minimal_distance"), digits=4)))
    if div.get("shrink_queries") is not None:
        shrink.append(("shrink queries", format_number(div.get("shrink_queries"))))
    for key in ("cluster_size", "cluster"):
        if div.get(key) is not None:
            shrink.append((key.replace("_", " "), format_value(div.get(key))))
    triage = div.get("triage")
    if isinstance(triage, Mapping) and triage.get("label"):
        label = format_value(triage.get("label"))
        reason = triage.get("reason") or triage.get("error")
        shrink.append(("triage", f"{label} ({format_value(reason)})" if reason else label))
        if triage.get("significant_bits") is not None:
            shrink.append(("reference significant bits", format_number(triage.get("significant_bits"), digits=3)))
        if triage.get("label_stability") is not None:
            shrink.append(("reference label stability", format_number(triage.get("label_stability"), digits=3)))
    natural = _natural_view(div)
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
        "truth": correct_text(div) if div.get("true_label") is not None else None,
        "metrics": [
            (name, value, METRIC_HELP.get(name, ""))
            for name, value in [
                ("fitness", format_number(div.get("fitness"), digits=4)),
                ("queries", format_number(div.get("queries"))),
                *_validity_rows(div.get("validity")),
                *natural["rows"],
                *shrink,
                ("found at", format_value(div.get("found_at"))),
            ]
        ],
        "chain": format_chain(effective_chain(div)),
        "is_minimal": minimal is not None,
        "found_chain": format_chain(div.get("chain")) if minimal is not None else None,
        "shrink": shrink,
        "reference_top3": top_probabilities(div.get("reference_probs")),
        "candidate_top3": top_probabilities(div.get("candidate_probs")),
        "validity": _validity_rows(div.get("validity")),
        "figures": figures,
        "natural": natural["line"],
        "near_tie": natural["near_tie"],
        "replay": replay_command(report_dir, div_id),
    }


def _legend(views: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(metric, meaning)`` for every metric the shown divergences display, in display order."""
    seen: dict[str, str] = {}
    for view in views:
        for name, _, help_text in view["metrics"]:
            seen.setdefault(name, help_text or "A validity metric of the mutant against its seed.")
    return list(seen.items())


def _charts(divergences: list[Mapping[str, Any]]) -> dict[str, Any]:
    relations = relation_counts(divergences)
    changes = label_change_counts(divergences)
    matrix = label_matrix(changes)
    heat = None
    if matrix is not None:
        rows, cols, counts = matrix
        peak = max(max(r) for r in counts) or 1
        heat = {
            "columns": cols,
            "rows": [
                (label, [(n, _heat_style(n, peak)) for n in row])
                for label, row in zip(rows, counts)
            ],
        }
    return {
        "relations_svg": bar_chart_svg(
            relations, title="Divergences per relation", max_bars=25),
        "changes_svg": bar_chart_svg(
            [(f"{r} → {c}", n) for r, c, n in changes],
            title="Most frequent label changes (reference → candidate)",
            max_bars=10, color="#a65f3b"),
        "heat": heat,
    }


def _heat_style(count: int, peak: int) -> str:
    # white -> dark orange; dark cells get white text
    t = count / peak
    r, g, b = (round(255 + (c - 255) * t) for c in (166, 60, 20))
    fg = "#fff" if t > 0.55 else "#1d1d1f"
    return f"background: rgb({r}, {g}, {b}); color: {fg}"


def _supervisor_rows(section: Any) -> dict | None:
    """Rows of the supervisors table (``diverfuzz evaluate-supervisors``), or None."""
    if not isinstance(section, Mapping) or not section.get("scores"):
        return None
    keys = ("monitored", "name", "auroc_matched", "auroc_nominal", "average_precision")

    def at(row: Mapping, level: str, key: str) -> str:
        cell = row.get("at")
        cell = cell.get(level) if isinstance(cell, Mapping) else None
        return format_value(cell.get(key) if isinstance(cell, Mapping) else None)

    return {
        "false_alarm": format_value(section.get("false_alarm")),
        "rows": [
            [format_value(row.get(k)) for k in keys]
            + [at(row, level, "tpr") for level in ("S1", "S5", "S10")]
            + [at(row, "S5", "matched_rejection"), at(row, "S5", "acceptance"), at(row, "S5", "accepted_accuracy")]
            for row in section["scores"]
            if isinstance(row, Mapping)
        ],
        "absent": [str(line) for line in section.get("absent") or []],
        "negatives": {str(k): format_value(v) for k, v in (section.get("negatives") or {}).items()},
    }


def render_html(
    report: Mapping[str, Any],
    images: Mapping[int, DivergenceImages] | None = None,
    *,
    max_divergences: int = 200,
    report_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Render `report` as a self-contained HTML page and return the text.

    Parameters are those of :func:`write_html`; `report_dir` (default
    ``None``: the placeholder ``DIR``) is the folder named in the replay
    commands.
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
    views = [_divergence_view(d, images, report_dir) for d in shown]
    tool = report.get("tool") or {}
    context = {
        "tool_name": format_value(tool.get("name", "diverfuzz")),
        "tool_version": format_value(tool.get("version")),
        "schema_version": format_value(report.get("schema_version")),
        "summary": [(label, value, SUMMARY_HELP.get(label, "")) for label, value in overview_rows(report)],
        "warnings": warning_lines(report),
        "legend": _legend(views),
        "replay_all": replay_command(report_dir),
        "fingerprints": [(str(k), format_value(v)) for k, v in
                         (report.get("fingerprints") or {}).items()],
        "config": [(str(k), format_value(v)) for k, v in
                   (report.get("config") or {}).items()],
        "workload": [(str(k), format_value(v)) for k, v in
                     (report.get("workload") or {}).items()],
        "supervisors": _supervisor_rows(report.get("supervisors")),
        "estimate": estimate_grid(report.get("estimate")),
        "explain": explain_view(report.get("explain")),
        "versions": [(str(k), format_value(v)) for k, v in
                     (report.get("versions") or {}).items()],
        "divergences": views,
        **_charts(divergences),
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
    report_dir: str | os.PathLike[str] | None = None,
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
        an entry show the seed, the moved seed (when the entry has one), the
        mutant and their difference side by side; the others show text only.
        Default: no images.
    max_divergences : int, optional
        Show at most this many divergences (in record order); the page says
        how many were omitted.  Must be >= 0.  Default 200.
    report_dir : str or os.PathLike, optional
        The campaign folder named in the page's ``diverfuzz replay`` commands.
        Default: the folder of `path`.

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
    divided by its maximum; the caption states that maximum.  When the
    entry has a moved seed (the seed moved by the chain's geometric steps
    alone), the difference is ``|mutant - moved seed|``: the value changes
    the natural validity rule judged.

    The page opens with the summary (pair, precision spec, budget, success
    rate, queries), then two charts counting every divergence in the record
    (not only those shown): divergences per relation (a divergence counts once
    for each relation in its ``minimal_chain`` when present, else its
    ``chain``) and the most frequent reference → candidate label changes
    (plus a count matrix when at most 12 labels occur on each side).  Each
    divergence then shows its labels, both models' top-3 probabilities, the
    minimal chain (and the chain the search found), validity metrics, images
    and a ``diverfuzz replay DIR --id N`` command.  Records of the natural
    rule add, per divergence, a line with the severity, the geometry in its
    units, the metrics after the geometry and against the seed, and both
    models' margins (a near-tie, reference margin below 0.05, is called out),
    and in the summary the seeds with a decisive divergence, the quartiles of
    the reference margins and the campaign's minimum margin.  Each is shown
    only when the record has it.  The page ends with the
    configuration and the environment: model fingerprints and library
    versions.
    """
    if report_dir is None:
        report_dir = Path(path).parent
    text = render_html(report, images, max_divergences=max_divergences,
                       report_dir=report_dir)
    return atomic_write_text(path, text)
