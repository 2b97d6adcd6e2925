"""Supervisors: uncertainty monitors that flag the inputs on which the models may disagree.

* :mod:`diverfuzz.supervisors.quantifiers`: the uncertainty quantifiers supervisors use.
* :mod:`diverfuzz.supervisors.supervisor`: uncertainty supervisors (max softmax, margin,
  entropy, DeepGini, MC dropout, deep ensembles) with calibrated thresholds.
* :mod:`diverfuzz.supervisors.evaluation`: AUROC / TPR / acceptance of supervisors on
  divergence-inducing inputs.
* :mod:`diverfuzz.supervisors.negatives`: matched negatives, agreeing mutants at the
  divergences' distance from their seeds.
* :mod:`diverfuzz.supervisors.campaign`: all of it on a finished campaign's folder
  (``diverfuzz evaluate-supervisors DIR``).

This layer sits above :mod:`diverfuzz.fuzzer`: evaluating on a campaign reads its corpus
and re-runs its search set-up for the matched negatives.
"""

from diverfuzz.supervisors.evaluation import (
    SupervisorScore,
    evaluate_supervisors,
    split_nominal,
)
from diverfuzz.supervisors.supervisor import (
    SUPERVISORS,
    EnsembleSupervisor,
    MCDropoutSupervisor,
    SoftmaxSupervisor,
    Supervisor,
    build_supervisors,
)

__all__ = [
    "SUPERVISORS",
    "EnsembleSupervisor",
    "MCDropoutSupervisor",
    "SoftmaxSupervisor",
    "Supervisor",
    "SupervisorScore",
    "build_supervisors",
    "evaluate_supervisors",
    "split_nominal",
]
