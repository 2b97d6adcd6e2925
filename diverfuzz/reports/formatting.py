"""Text forms of report values shared by the HTML and Markdown renderers.

Functions here return plain (unescaped) strings; each renderer escapes them
for its own format.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from typing import Any, Mapping, Sequence

__all__ = [
    "MISSING",
    "clean_text",
    "top_probabilities",
    "pair_text",
    "precision_text",
    "overview_rows",
    "replay_command",
    "format_number",
    "format_value",
    "format_params",
    "format_chain",
    "top_probability",
    "summary_rows",
    "SUMMARY_HELP",
    "warning_lines",
    "correct_text",
    "NEAR_TIE",
    "format_geometry",
    "margin_text",
    "is_near_tie",
    "decisive_text",
    "margin_quartiles_text",
    "severity_text",
]

#: A divergence whose reference margin (top-1 minus top-2 probability of the
#: reference on the mutant) is below this is a near-tie: the reference itself
#: is nearly undecided there.
NEAR_TIE = 0.05

#: Shown where a value is absent or ``None`` (e.g. a non-finite float
#: stored as JSON ``null``).
MISSING = "—"

# C0/C1 control characters other than tab, newline and carriage return,
# lone surrogates and the non-characters U+FFFE / U+FFFF: none is allowed in
# XML 1.0, and in HTML they are parse errors that browsers show as garbage.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: Any) -> str:
    r"""`text` as a string with control characters made visible.

    Each character that XML 1.0 forbids or that HTML treats as a parse error
    (C0 / C1 controls except tab, newline and carriage return, lone
    surrogates, U+FFFE, U+FFFF) is replaced by its escape, e.g. ``\x1b``.
    Markup characters are left alone: each renderer escapes those.

    Examples
    --------
    >>> clean_text("a\x1bb\x00")
    'a\\x1bb\\x00'
    """
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                           else f"\\u{ord(m.group()):04x}", str(text))


def format_number(value: Any, digits: int = 6) -> str:
    """Format a number compactly (``%.{digits}g``); ``inf`` as ``∞``.

    Examples
    --------
    >>> format_number(12.5), format_number(0.1 + 0.2), format_number(float("inf"))
    ('12.5', '0.3', '∞')
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.{digits}g}"
    return str(value)


def format_value(value: Any) -> str:
    """Format a config or version value for a key/value table.

    Strings are shown as they are, numbers via :func:`format_number`, and
    lists / dicts as compact JSON.
    """
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return format_number(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_param_value(v) for v in value) + "]"
    if isinstance(value, (bool, int, float)) or value is None:
        return "None" if value is None else format_number(value)
    return str(value)


def format_params(params: Mapping[str, Any] | None) -> str:
    """Format relation parameters as ``name=value`` pairs.

    Examples
    --------
    >>> format_params({"angle": 12.5, "mode": "reflect"})
    "angle=12.5, mode='reflect'"
    """
    if not params:
        return ""
    return ", ".join(f"{k}={_param_value(v)}" for k, v in params.items())


def format_chain(chain: Sequence[Mapping[str, Any]] | None) -> str:
    """Format a relation chain as ``name(params) → name(params)``.

    An empty chain is shown as ``(identity)``.

    Examples
    --------
    >>> format_chain([{"relation": "rotation", "params": {"angle": 12.5}},
    ...               {"relation": "gaussian_blur", "params": {"sigma": 0.8}}])
    'rotation(angle=12.5) → gaussian_blur(sigma=0.8)'
    """
    if not chain:
        return "(identity)"
    steps = []
    for step in chain:
        name = str(step.get("relation", "?"))
        steps.append(f"{name}({format_params(step.get('params'))})")
    return " → ".join(steps)


def top_probability(probs: Sequence[Any] | None) -> str:
    """Largest probability in `probs`, formatted; ``—`` if unknown."""
    values = [p for p in (probs or []) if isinstance(p, (int, float)) and p == p]
    if not values:
        return MISSING
    return f"{max(values):.3f}"


#: What each summary row means: HTML tooltips and the Markdown legend.
SUMMARY_HELP: dict[str, str] = {
    "Pair": "The reference model / the candidate it is compared with.",
    "Precision": "The candidate's precision spec (how it was derived from the reference).",
    "Strategy": "Search strategy that evolved the transformation chains.",
    "Mode": "first: stop each seed at its first divergence; many: search the whole budget for distinct ones.",
    "Budget per seed": "Search queries allowed per seed (candidate inputs, rejected ones included).",
    "Validity rule": "Every mutant had to meet this rule against its seed (e.g. ssim>=0.6); others were rejected unseen.",
    "Seeds checked": "Seeds a divergence was looked for on: seeds fuzzed plus clean disagreements.",
    "Seeds": "Seeds fuzzed: inputs both models labelled alike (and correctly, with labels) before any change.",
    "Seeds disagreeing initially": "Clean disagreements: inputs the models already label differently unmodified (not fuzzed, but counted in the divergence rate).",
    "Seeds with divergence": "Fuzzed seeds on which the search found a divergence.",
    "Divergence rate": "(clean disagreements + seeds with a divergence) / seeds checked: what a CI gate bounds.",
    "Success rate": "Search success: seeds with a divergence / seeds fuzzed.",
    "Right on divergences": "With labels: on how many divergences the reference, the candidate or neither gives the true label.",
    "Queries": "Search queries: candidate inputs counted against the budgets, rejected ones included.",
    "Rejected by validity": "Search queries the validity rule refused (never run on the models).",
    "Unchanged mutants": "Search queries the validity rule accepted that were the seed itself (no new input); near all accepted ones, the rule admits nothing but the seeds.",
    "Shrink queries": "Candidate chains tried while shrinking divergences (outside the budget).",
    "Triage evaluations": "Reference forward passes spent on Monte Carlo Arithmetic triage.",
    "Triage": "Divergences by MCA triage of the reference: precision-induced (the reference is stable there) / reference-unstable; not triaged (with why) where MCA cannot instrument the reference's own arithmetic (a model file, TorchScript, a torch.export program, a plain callable).",
    "Screening queries": "Model-pair evaluations spent probing the models and screening every input.",
    "Total model evaluations": "Every single-model forward pass of one input, all phases included.",
    "Batch-dependent models": "Models whose output for an input depends on the rest of its batch; run one input at a time.",
    "Median queries to first divergence": "Median, over seeds with a divergence, of the search queries until the first one.",
    "Seeds with a decisive divergence": "Seeds with a divergence at a reference margin (top-1 minus top-2 probability of the reference on the mutant) of at least 0.05 / 0.1: disagreements where the reference is sure, not near-ties.",
    "Reference margin of divergences": "Median and quartiles (q25, q75) of the reference margins of the divergences; near 0 the reference itself is nearly undecided.",
    "Minimum reference margin": "The campaign's --min-margin: only divergences at a reference margin of at least this were counted (0: all).",
    "Wall seconds": "Wall-clock duration of the campaign.",
    "Interrupted": "yes when the campaign stopped early; the record holds what was found until then.",
}


def _percent(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{100.0 * value:.1f} %"
    return format_number(value)


def summary_rows(summary: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Label/value rows of the campaign summary, in display order.

    Missing entries are shown as ``—`` (rows a record predates are left
    out); rates (fractions in ``[0, 1]``) are shown as percentages.
    :data:`SUMMARY_HELP` explains each label.
    """
    s = summary or {}
    wall = s.get("wall_seconds")
    wall_text = f"{wall:.1f}" if isinstance(wall, float) and math.isfinite(wall) else format_number(wall)
    rows: list[tuple[str, str]] = []
    if "seeds_checked" in s:
        rows.append(("Seeds checked", format_number(s.get("seeds_checked"))))
    rows += [
        ("Seeds", format_number(s.get("seeds"))),
        ("Seeds disagreeing initially", format_number(s.get("seeds_disagreeing_initially"))),
        ("Seeds with divergence", format_number(s.get("seeds_with_divergence"))),
    ]
    if "divergence_rate" in s:
        rows.append(("Divergence rate", _percent(s.get("divergence_rate"))))
    rows.append(("Success rate", _percent(s.get("success_rate"))))
    correct = s.get("correct_counts")
    if isinstance(correct, Mapping):
        rows.append(("Right on divergences", " · ".join(
            f"{side} {format_number(correct.get(side))}" for side in ("reference", "candidate", "neither"))))
    rows.append(("Queries", format_number(s.get("queries"))))
    rejected, queries = s.get("rejected"), s.get("queries")
    if rejected is not None:
        share = (f" ({100.0 * rejected / queries:.1f} %)"
                 if isinstance(rejected, int) and isinstance(queries, int) and queries > 0 else "")
        rows.append(("Rejected by validity", format_number(rejected) + share))
    unchanged = s.get("unchanged")
    if unchanged is not None:
        accepted = queries - rejected if isinstance(queries, int) and isinstance(rejected, int) else None
        share = f" of {accepted} accepted" if isinstance(unchanged, int) and accepted else ""
        rows.append(("Unchanged mutants", format_number(unchanged) + share))
    for key, label in (("shrink_queries", "Shrink queries"), ("triage_evaluations", "Triage evaluations"),
                       ("screening_queries", "Screening queries"),
                       ("total_model_evaluations", "Total model evaluations")):
        if key in s:
            rows.append((label, format_number(s.get(key))))
    if isinstance(s.get("triage"), Mapping):
        rows.append(("Triage", triage_text(s)))
    if s.get("batch_dependent"):
        rows.append(("Batch-dependent models", ", ".join(format_value(v) for v in s["batch_dependent"])))
    if s.get("decisive_counts") is not None:
        rows.append(("Seeds with a decisive divergence", decisive_text(s.get("decisive_counts"))))
    if "reference_margins" in s:
        rows.append(("Reference margin of divergences", margin_quartiles_text(s.get("reference_margins"))))
    if s.get("min_margin") is not None:
        rows.append(("Minimum reference margin", format_number(s.get("min_margin"), digits=3)))
    rows += [
        ("Median queries to first divergence",
         format_number(s.get("median_queries_to_first_divergence"))),
        ("Wall seconds", wall_text),
        ("Interrupted", format_number(s.get("interrupted"))),
    ]
    return rows


def triage_text(summary: Mapping[str, Any]) -> str:
    """``summary.triage`` as ``precision-induced / reference-unstable`` counts, or ``not triaged (why)``.

    Divergences MCA could not judge (``summary.triage["not triaged"]``) are named with
    ``summary.not_triaged_reasons``; when they are all of them, that is the whole text.
    """
    triage = summary.get("triage") if isinstance(summary.get("triage"), Mapping) else {}
    counts = f"{triage.get('precision-induced', 0)} / {triage.get('reference-unstable', 0)}"
    skipped = triage.get("not triaged") or 0
    if not skipped:
        return counts
    why = "; ".join(str(r) for r in summary.get("not_triaged_reasons") or []) or "MCA cannot instrument the reference"
    if skipped == sum(v for v in triage.values() if isinstance(v, int)):
        return f"not triaged ({why})"
    return f"{counts}; {skipped} not triaged ({why})"


def warning_lines(report: Mapping[str, Any]) -> list[str]:
    """``summary.warnings`` as plain strings (empty when the run looks sound)."""
    warnings = (report.get("summary") or {}).get("warnings") or []
    return [format_value(w) for w in warnings if w is not None]


def correct_text(divergence: Mapping[str, Any]) -> str:
    """``"5 (candidate right)"``: the true label and who gives it, or ``—`` without labels."""
    if divergence.get("true_label") is None:
        return MISSING
    side = divergence.get("correct")
    who = {"reference": "reference right", "candidate": "candidate right", "neither": "neither right"}
    return f"{format_value(divergence.get('true_label'))} ({who.get(side, format_value(side))})"


def top_probabilities(probs: Sequence[Any] | None, k: int = 3) -> list[tuple[str, str]]:
    """The `k` most probable classes as ``(class index, probability)`` text.

    Entries that are not finite numbers (e.g. ``None`` for a non-finite value
    read back from JSON) are skipped; ties keep the lower class index first.

    Examples
    --------
    >>> top_probabilities([0.1, 0.7, 0.2], k=2)
    [('1', '0.700'), ('2', '0.200')]
    """
    values = [
        (i, float(p)) for i, p in enumerate(probs or [])
        if isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
    ]
    values.sort(key=lambda item: (-item[1], item[0]))
    return [(str(i), f"{p:.3f}") for i, p in values[:k]]


def pair_text(report: Mapping[str, Any]) -> str:
    """``reference / candidate``: the models a campaign compared.

    Taken from ``workload.model`` / ``workload.candidate`` (descriptions the
    campaign writes), else from ``config.model`` / ``config.candidate`` (or
    ``config.precision``); ``—`` for a side that is unknown.
    """
    workload = report.get("workload") or {}
    config = report.get("config") or {}
    reference = workload.get("model") or config.get("model")
    candidate = (workload.get("candidate") or config.get("candidate")
                 or config.get("precision"))
    return f"{format_value(reference)} / {format_value(candidate)}"


def precision_text(config: Mapping[str, Any] | None) -> str:
    """The candidate's precision spec: ``config.precision`` else ``config.candidate``."""
    config = config or {}
    value = config.get("precision")
    if value is None:
        value = config.get("candidate")
    return format_value(value)


def overview_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rows shown first in every report: what was compared, then the results.

    The pair, precision spec, search strategy and mode (when recorded),
    budget per seed, validity rule, then :func:`summary_rows`.
    """
    config = report.get("config") or {}
    rows = [("Pair", pair_text(report)), ("Precision", precision_text(config))]
    if config.get("strategy") is not None:
        rows.append(("Strategy", format_value(config.get("strategy"))))
    if config.get("mode") is not None:
        rows.append(("Mode", format_value(config.get("mode"))))
    rows.append(("Budget per seed", format_value(config.get("budget"))))
    validity = (report.get("summary") or {}).get("validity") or config.get("validity")
    if validity is not None:
        rows.append(("Validity rule", format_value(validity)))
    return rows + summary_rows(report.get("summary"))


def replay_command(report_dir: str | os.PathLike[str] | None, div_id: Any = None) -> str:
    """The shell command that re-executes a campaign's divergences.

    Parameters
    ----------
    report_dir : str or os.PathLike or None
        The campaign's output folder (holding ``corpus.sqlite``); ``None``
        gives the placeholder ``DIR``.
    div_id : int, optional
        One divergence id (``--id``); default: all of them.

    Examples
    --------
    >>> replay_command("runs/a b", 3)
    "diverfuzz replay 'runs/a b' --id 3"
    """
    folder = "DIR" if report_dir is None else shlex.quote(clean_text(os.fspath(report_dir)))
    command = f"diverfuzz replay {folder}"
    if div_id is not None:
        command += f" --id {shlex.quote(clean_text(format_value(div_id)))}"
    return command


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_near_tie(margin: Any) -> bool:
    """Whether a reference margin is a near-tie (below :data:`NEAR_TIE`); False when unknown."""
    return _finite(margin) and margin < NEAR_TIE


def margin_text(margin: Any, *, flag: bool = False) -> str:
    """A top-1 minus top-2 probability margin, 3 significant digits; ``—`` if unknown.

    With `flag`, a near-tie (:func:`is_near_tie`) says so.

    Examples
    --------
    >>> margin_text(0.7123), margin_text(0.0016, flag=True), margin_text(None)
    ('0.712', '0.0016 (near-tie: the reference is itself nearly undecided)', '—')
    """
    if not _finite(margin):
        return format_number(margin)
    text = format_number(float(margin), digits=3)
    if flag and is_near_tie(margin):
        text += " (near-tie: the reference is itself nearly undecided)"
    return text


def _unit_text(value: Any, unit: Any) -> str:
    number = format_number(float(value), digits=3) if _finite(value) else format_number(value)
    if unit is None or unit == "":
        return number
    unit = str(unit)
    if unit in ("scale factor", "factor", "scale", "x", "×"):
        return f"×{number}"
    return f"{number} {unit}"


def format_geometry(geometry: Any) -> str | None:
    """The geometric steps of a chain in their units, e.g. ``rotation 7.2 degrees``.

    `geometry` is a divergence's ``geometry`` field: a list of
    ``{"relation", "values", "units"}``. A step with one value shows it after
    the relation's name; a step with several names each
    (``translation dx 1.4 pixels dy -0.7 pixels``). Scale factors are shown
    as ``×1.08``. ``None`` (or anything but a list) gives ``None``; an empty
    list ``"none"``.

    Examples
    --------
    >>> format_geometry([{"relation": "rotation", "values": {"angle": 7.2}, "units": {"angle": "degrees"}},
    ...                  {"relation": "translation", "values": {"dx": 1.4, "dy": -0.7},
    ...                   "units": {"dx": "pixels", "dy": "pixels"}}])
    'rotation 7.2 degrees, translation dx 1.4 pixels dy -0.7 pixels'
    >>> format_geometry([]), format_geometry(None)
    ('none', None)
    """
    if not isinstance(geometry, (list, tuple)):
        return None
    if not geometry:
        return "none"
    parts = []
    for step in geometry:
        if not isinstance(step, Mapping):
            parts.append(format_value(step))
            continue
        name = format_value(step.get("relation", "?"))
        values = step.get("values") if isinstance(step.get("values"), Mapping) else {}
        units = step.get("units") if isinstance(step.get("units"), Mapping) else {}
        if len(values) == 1:
            (param, value), = values.items()
            parts.append(f"{name} {_unit_text(value, units.get(param))}")
        elif values:
            parts.append(name + " " + " ".join(
                f"{param} {_unit_text(value, units.get(param))}" for param, value in values.items()))
        else:
            parts.append(name)
    return ", ".join(parts)


def decisive_text(counts: Any) -> str:
    """``summary.decisive_counts`` as ``≥0.05: 12 · ≥0.1: 9`` (seeds); ``—`` if unknown.

    Examples
    --------
    >>> decisive_text({">=0.05": 12, ">=0.1": 9})
    '≥0.05: 12 · ≥0.1: 9'
    """
    if not isinstance(counts, Mapping) or not counts:
        return MISSING
    parts = []
    for key, value in counts.items():
        key = str(key)
        label = "≥" + key[2:] if key.startswith(">=") else key
        parts.append(f"{label}: {format_number(value)}")
    return " · ".join(parts)


def margin_quartiles_text(quartiles: Any) -> str:
    """``summary.reference_margins`` as ``median 0.31 (q25 0.12, q75 0.55)``; ``—`` if unknown.

    Examples
    --------
    >>> margin_quartiles_text({"q25": 0.12, "median": 0.31, "q75": 0.55})
    'median 0.31 (q25 0.12, q75 0.55)'
    """
    if not isinstance(quartiles, Mapping):
        return MISSING
    median = margin_text(quartiles.get("median"))
    return f"median {median} (q25 {margin_text(quartiles.get('q25'))}, q75 {margin_text(quartiles.get('q75'))})"


def severity_text(severity: Any) -> str:
    """A divergence's natural severity (0-5); ``None`` (a step beyond every range) as ``beyond 5``.

    Call it only for a record that has the field: older records lack it.

    Examples
    --------
    >>> severity_text(3), severity_text(None)
    ('3', 'beyond 5')
    """
    return "beyond 5" if severity is None else format_number(severity)
