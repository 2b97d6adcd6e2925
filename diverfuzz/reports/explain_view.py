"""The explain section of a report: how often each layer is a culprit, and the per-layer fix.

A record's ``explain`` mapping (written by ``diverfuzz explain`` and
``check(explain=True)``) holds ``layers`` (model order), ``histogram``
(layer -> divergences naming it a culprit), ``divergences`` (how many were
explained) and ``fix`` (``layers``, ``removed``, ``weights_share``,
``macs_share``, ``accuracy``, ``policy``).
"""

from __future__ import annotations

from typing import Any, Mapping

from .charts import bar_chart_svg

__all__ = ["FIX_MARK", "explain_summary", "explain_view"]

#: Appended to the label of a layer the fix keeps at float32.
FIX_MARK = " (kept by the fix)"


def _share(value: Any) -> str:
    return f"{100.0 * value:.1f}%" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def explain_summary(section: Any) -> str:
    """One sentence: the fix's layers, the share of divergences it removes, its weight share, accuracy."""
    if not isinstance(section, Mapping) or not isinstance(section.get("fix"), Mapping):
        return ""
    fix = section["fix"]
    layers = ", ".join(str(n) for n in fix.get("layers") or []) or "no layer"
    text = (
        f"Keeping {layers} at float32 removes {_share(fix.get('removed'))} of the {section.get('divergences', 0)} "
        f"stored divergences (replayed), with {_share(fix.get('weights_share'))} of the weights and "
        f"{_share(fix.get('macs_share'))} of the MACs at float32"
    )
    accuracy = fix.get("accuracy")
    if isinstance(accuracy, Mapping):
        text += f"; clean accuracy {_share(accuracy.get('before'))} before, {_share(accuracy.get('after'))} after"
    policy = fix.get("policy")
    return text + (f". Policy file: {policy}." if policy else ".")


def explain_view(section: Any) -> dict | None:
    """``{"chart": svg, "summary": sentence}`` for the HTML report, or None without an explain section."""
    if not isinstance(section, Mapping) or not isinstance(section.get("histogram"), Mapping):
        return None
    histogram = section["histogram"]
    order = [str(n) for n in section.get("layers") or histogram]
    kept = {str(n) for n in (section.get("fix") or {}).get("layers") or []}
    items = [
        (name + (FIX_MARK if name in kept else ""), int(histogram.get(name, 0)))
        for name in order
        if isinstance(histogram.get(name, 0), int) and not isinstance(histogram.get(name, 0), bool)
    ]
    chart = bar_chart_svg(items, title="divergences per culprit layer", max_bars=max(1, len(items)))
    return {"chart": chart, "summary": explain_summary(section)}
