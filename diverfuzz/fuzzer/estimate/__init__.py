"""Divergence probability per relation and severity, with intervals over seeds (``diverfuzz estimate``).

:mod:`~diverfuzz.fuzzer.estimate.sampling` draws and counts (:func:`estimate`);
:mod:`~diverfuzz.fuzzer.estimate.run` turns a campaign config into an output folder
(:func:`run_estimate`).
"""

from diverfuzz.fuzzer.estimate.run import (
    ESTIMATE_FILE,
    EstimateRun,
    attach_estimate,
    estimate_options,
    estimate_workload,
    load_estimate,
    run_estimate,
)
from diverfuzz.fuzzer.estimate.sampling import (
    CLEAN,
    CellEstimate,
    ClassEstimate,
    EstimateResult,
    draw_chains,
    estimate,
    parse_severities,
    worst_cell,
)

__all__ = [
    "CLEAN",
    "ESTIMATE_FILE",
    "CellEstimate",
    "ClassEstimate",
    "EstimateResult",
    "EstimateRun",
    "attach_estimate",
    "estimate_options",
    "estimate_workload",
    "draw_chains",
    "estimate",
    "load_estimate",
    "parse_severities",
    "run_estimate",
    "worst_cell",
]
