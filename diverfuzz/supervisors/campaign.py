"""``diverfuzz evaluate-supervisors DIR``: do uncertainty monitors flag the divergences?

Every supervisor is scored twice, computed from the reference and computed
from the deployed candidate (a monitor ships beside the deployed model),
against two kinds of negatives: matched ones (valid mutants at the same
distortion on which the models agree, :mod:`diverfuzz.supervisors.negatives`) and the
nominal test inputs (:mod:`diverfuzz.supervisors.evaluation` explains both columns).

Which supervisors apply:

* softmax quantifiers (max softmax, margin, entropy, DeepGini): always, on
  both models;
* MC dropout: on a reference with dropout layers, or, for the bundled digits
  CNN, on its dropout variant
  (:func:`diverfuzz.models.examples.digits.trained_digits_dropout_cnn`); never
  on the candidate, whose export for reduced precision runs in eval mode and
  drops the dropout layers;
* deep ensemble: for the bundled digits CNN, five CNNs trained like it from
  other seeds (:func:`diverfuzz.models.examples.digits.trained_digits_ensemble`);
  on the candidate side, each member's counterpart at the campaign's
  precision.

A supervisor that does not apply is listed in ``absent`` with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.rebuild import build_workload, model_changes, open_stored
from diverfuzz.fuzzer.campaign.rerender import rerender
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import Workload, seed_input
from diverfuzz.models.examples.digits import (
    load_digits_data,
    trained_digits_dropout_cnn,
    trained_digits_ensemble,
)
from diverfuzz.models.layers import leaf_modules
from diverfuzz.models.pair import torch_threads
from diverfuzz.models.precision.build import build_counterpart
from diverfuzz.supervisors.evaluation import SupervisorScore, evaluate_supervisors
from diverfuzz.supervisors.negatives import matched_negatives
from diverfuzz.supervisors.supervisor import build_supervisors

SUPERVISORS_FILE = "supervisors.json"


@dataclass
class SupervisionResult:
    """What :func:`evaluate_campaign` measured.

    Attributes
    ----------
    scores : list of SupervisorScore
        Reference-monitored rows first, then candidate-monitored ones.
    absent : list of str
        One line per supervisor family that could not be scored, saying why.
    negatives : dict
        Counts and median L2 distortion of the matched negatives next to the
        divergences' (:meth:`diverfuzz.supervisors.negatives.MatchedNegatives.summary`).
    false_alarm : float
    """

    scores: list[SupervisorScore]
    absent: list[str] = field(default_factory=list)
    negatives: dict = field(default_factory=dict)
    false_alarm: float = 0.05
    #: Lines for the user: files found relative to DIR, not at their stored absolute paths.
    notes: list[str] = field(default_factory=list)


def _has_dropout(model) -> bool:
    return isinstance(model, torch.nn.Module) and bool(
        leaf_modules(model, types=(torch.nn.modules.dropout._DropoutNd,))
    )


def _bundled_digits(config: CampaignConfig) -> bool:
    return config.model is None and config.example == "digits" and getattr(config, "defense", None) is None


def _companions(config: CampaignConfig, workload: Workload) -> tuple[object, list | None, list | None, list[str]]:
    """(mc_model, reference ensemble, candidate ensemble, absent lines)."""
    reference = workload.pair.reference
    absent: list[str] = []
    mc_model, ensemble, cand_ensemble = None, None, None
    if _has_dropout(reference):
        mc_model = reference
    elif _bundled_digits(config):
        mc_model = trained_digits_dropout_cnn(0)
    else:
        absent.append(
            "mc_dropout_*: the reference has no dropout layers (nn.Dropout, nn.Dropout2d, ...), so Monte Carlo "
            "dropout cannot sample it; train it with dropout to get variation ratio, predictive entropy, mutual "
            "information and mean softmax over dropout samples"
        )
    if _bundled_digits(config):
        data = load_digits_data()
        ensemble = trained_digits_ensemble(data)
        if config.candidate is None:
            cand_ensemble = [build_counterpart(config.precision, m, data.x_train) for m in ensemble]
        else:
            absent.append("ensemble_* (candidate): --candidate is a user model, so no counterpart of the members exists")
    else:
        absent.append(
            "ensemble_*: a deep ensemble needs several independently trained models of the reference's architecture; "
            "diverfuzz trains them only for the bundled digits CNN"
        )
    if mc_model is not None:
        absent.append(
            "mc_dropout_* (candidate): the reduced-precision counterpart is exported in eval mode, which removes "
            "dropout, so it cannot be sampled"
        )
    return mc_model, ensemble, cand_ensemble, absent


def evaluate_campaign(out: str | Path, *, false_alarm: float = 0.05) -> SupervisionResult:
    """Score every applicable supervisor on the campaign in ``out`` and store the results.

    Positives are the campaign's divergence-inducing mutants; negatives are
    matched mutants (regenerated, :func:`diverfuzz.supervisors.negatives.matched_negatives`)
    and the nominal seed data, with its labels (or, without labels, the
    reference's own predictions). Rows go to ``DIR/supervisors.json`` (a
    list) and, with ``absent`` and the negatives' summary, into the corpus,
    so the HTML report shows them (``diverfuzz report DIR`` re-renders it).

    The models and data are rebuilt as the campaign built them
    (:func:`diverfuzz.fuzzer.campaign.rebuild.build_workload`); models given
    in memory, or changed since the campaign (other fingerprints), are
    refused in one line rather than scored in place of the campaign's.
    """
    if not 0.0 < false_alarm < 1.0:
        raise DiverfuzzError(f"--false-alarm={false_alarm!r} must lie in (0, 1)")
    out = Path(out)
    corpus, stored = Corpus.of_campaign(out)
    with corpus:
        campaign = open_stored(out, corpus, stored)
        config = campaign.config
        divergences = [d for _, d in corpus.divergences()]
    if not divergences:
        raise DiverfuzzError(f"DIR={str(out)!r} has no divergences to evaluate supervisors on")
    with torch_threads(config.threads):
        workload = build_workload(campaign)
        changed = model_changes(campaign, workload)
        if changed:
            raise DiverfuzzError(
                f"DIR={str(out)!r}: {'; '.join(changed)}; its divergences were found on the models it ran with, "
                "so supervisors cannot be scored on these"
            )
        reference, candidate = workload.pair.reference, workload.pair.candidate
        seeds = {d.seed_index: seed_input(workload, d.seed_index) for d in divergences}
        divergent = np.stack([d.chain.apply(seeds[d.seed_index]) for d in divergences])
        divergent_l2 = np.array(
            [float(np.linalg.norm((x - seeds[d.seed_index]).ravel())) for x, d in zip(divergent, divergences)]
        )
        negatives = matched_negatives(config, workload, divergences)
        nominal_y = workload.y
        if nominal_y is None:
            nominal_y = workload.pair.logits(workload.x)[0].argmax(axis=1)
        mc_model, ensemble, cand_ensemble, absent = _companions(config, workload)
        scores = []
        for monitored, model, mc, ens in (
            ("reference", reference, mc_model, ensemble),
            ("candidate", candidate, None, cand_ensemble),
        ):
            supervisors = build_supervisors(model, mc_model=mc, ensemble=ens, seed=config.rng_seed)
            scores += evaluate_supervisors(
                supervisors,
                workload.x,
                nominal_y,
                divergent,
                matched_x=negatives.x,
                false_alarm=false_alarm,
                model=model,
                monitored=monitored,
                seed=config.rng_seed,
            )
    result = SupervisionResult(scores, absent, negatives.summary(divergent_l2), false_alarm, campaign.notes)
    rows = [s.to_dict() for s in scores]
    (out / SUPERVISORS_FILE).write_text(json.dumps(rows, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    with Corpus.in_folder(out) as corpus:
        corpus.set_meta(
            "supervisors",
            {"false_alarm": false_alarm, "scores": rows, "absent": absent, "negatives": result.negatives},
        )
    rerender(out, ("html", "json"))
    return result


def evaluate_campaign_supervisors(out: str | Path, *, false_alarm: float = 0.05) -> list[SupervisorScore]:
    """:func:`evaluate_campaign`'s rows (reference-monitored first, then candidate-monitored)."""
    return evaluate_campaign(out, false_alarm=false_alarm).scores
