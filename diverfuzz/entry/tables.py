"""The rich tables and text the CLI prints: a campaign's summary, supervisor scores, a sweep.

Formatting only: every number comes from the layer that computed it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

from rich.console import Console
from rich.table import Table

from diverfuzz.reports.formatting import triage_text

if TYPE_CHECKING:  # the types only: printing a table loads no torch
    from diverfuzz.fuzzer.sweep import SweepResult
    from diverfuzz.supervisors.evaluation import SupervisorScore


#: Columns of a console without a terminal (a CI log, a pipe): tables keep their natural width.
LOG_WIDTH = 1000


def console(*, stderr: bool = False) -> Console:
    """A rich console for the CLI's tables and text.

    On a terminal, its width. Without one (a CI log, a pipe), rich would
    assume 80 columns and squeeze wide tables ("monit…", "super…"); this
    console is :data:`LOG_WIDTH` wide instead, so every table keeps its
    natural width (tables are not padded to the console's width). A
    ``COLUMNS`` variable still sets the width.
    """
    out = Console(stderr=stderr)
    if out.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return out
    return Console(stderr=stderr, width=LOG_WIDTH)


def campaign_table(report: dict) -> Table:
    """The campaign summary ``diverfuzz run`` prints: one row per counter of ``report["summary"]``."""
    s = report["summary"]
    table = Table(title="diverfuzz campaign", show_header=False)
    median = s["median_queries_to_first_divergence"]
    correct = s.get("correct_counts")
    rows = [
        ("validity rule", str(s.get("validity", "-"))),
        ("seeds fuzzed", str(s["seeds"])),
        ("seeds disagreeing initially (not fuzzed, counted)", str(s["seeds_disagreeing_initially"])),
        ("seeds with a divergence", str(s["seeds_with_divergence"])),
        ("divergence rate (clean + fuzzed, over seeds checked)", f"{100 * s.get('divergence_rate', 0.0):.1f}%"),
        ("success rate (fuzzed seeds)", f"{100 * s['success_rate']:.1f}%"),
        *(
            [("right on divergences: reference / candidate / neither",
              f"{correct['reference']} / {correct['candidate']} / {correct['neither']}")]
            if correct else []
        ),
        ("model-pair queries (budget)", str(s["queries"])),
        ("  rejected by the validity rule", str(s.get("rejected", "-"))),
        ("  accepted but unchanged (the seed itself)", str(s.get("unchanged", "-"))),
        ("shrink queries / screening queries", f"{s.get('shrink_queries', '-')} / {s.get('screening_queries', '-')}"),
        ("triage evaluations / total model evaluations",
         f"{s.get('triage_evaluations', '-')} / {s.get('total_model_evaluations', '-')}"),
        ("median queries to first divergence", "-" if median is None else f"{median:g}"),
        (
            "triage: precision-induced / reference-unstable",
            triage_text(s),
        ),
        ("wall time", f"{s['wall_seconds']:.1f} s"),
    ]
    decisive = s.get("decisive_counts")
    if isinstance(decisive, dict) and decisive:
        keys = list(decisive)
        rows.append((
            "decisive divergences (reference margin " + " / ".join(k.replace(">=", ">= ") for k in keys) + ")",
            " / ".join(str(decisive[k]) for k in keys) + " seeds",
        ))
    margins = s.get("reference_margins")
    if isinstance(margins, dict) and margins.get("median") is not None:
        quartiles = (f" (q25 {margins['q25']:.3g}, q75 {margins['q75']:.3g})"
                     if margins.get("q25") is not None and margins.get("q75") is not None else "")
        rows.append(("reference margin of divergences (median)", f"{margins['median']:.3g}{quartiles}"))
    if s.get("min_margin"):
        rows.append(("counted only at reference margin >=", f"{s['min_margin']:g}"))
    if s.get("batch_dependent"):
        rows.append(("run one input at a time (batch-dependent)", ", ".join(s["batch_dependent"])))
    rows += [("[bold red]WARNING[/]", w) for w in s.get("warnings") or []]
    for key, value in rows:
        table.add_row(key, value)
    return table


def supervisors_table(scores: Sequence[SupervisorScore]) -> Table:
    """One row per (monitored model, supervisor): AUROCs, average precision, TPR at S1/S5/S10."""
    table = Table(title="supervisors on divergence-inducing inputs (matched: look-alike mutants the models agree on)")
    for column in ("monitored", "supervisor", "AUROC matched", "AUROC nominal", "AP matched", "TPR S1", "TPR S5",
                   "TPR S10", "matched rejected S5"):
        table.add_column(column)

    def fmt(v):
        return "-" if v is None or v != v else f"{v:.3f}"

    for s in scores:
        table.add_row(s.monitored, s.name, fmt(s.auroc_matched), fmt(s.auroc_nominal), fmt(s.average_precision),
                      *(fmt(s.at[k]["tpr"]) for k in ("S1", "S5", "S10")), fmt(s.at["S5"]["matched_rejection"]))
    return table


def sweep_tables(result: SweepResult) -> tuple[Table, Table]:
    """Rich tables of a sweep: formats, per-layer sensitivity (renderables for a Console)."""

    def fmt(v, spec=".3f"):
        return "-" if v is None else format(v, spec)

    table = Table(title="precision sweep (agreement with the float32 reference)")
    for column in ("format", "target", "accuracy", "agreement", "significant bits", "fuzz success"):
        table.add_column(column, justify="left" if column in ("format", "target") else "right")
    for r in result.rows:
        table.add_row(r["format"], r["target"], fmt(r["accuracy"]), fmt(r["agreement"]), fmt(r["significant_bits"], ".1f"), fmt(r["fuzz_success_rate"], ".2f"))
    layers = Table(title=f"per-layer sensitivity (one layer at {result.recommendation.get('layer_format')}, others float32)")
    for column in ("layer", "agreement", "significant bits", "fuzz success"):
        layers.add_column(column, justify="left" if column == "layer" else "right")
    for r in result.layers:
        layers.add_row(r["layer"], fmt(r["agreement"]), fmt(r["significant_bits"], ".1f"), fmt(r["fuzz_success_rate"], ".2f"))
    return table, layers


def recommendation_text(recommendation: dict) -> str:
    """One line per target: the smallest format keeping agreement >= threshold."""
    lines = []
    for target, row in recommendation["by_target"].items():
        if row is None:
            lines.append(f"{target}: no format in the sweep keeps agreement >= {recommendation['threshold']:g} on clean and fuzzed inputs")
        else:
            lines.append(
                f"{target}: {row['format']} ({row['bits']} bits): agreement {row['agreement']:.3f} clean, "
                f"{1 - row['fuzz_success_rate']:.3f} fuzzed"
            )
    return "\n".join(lines)
