"""``diverfuzz evaluate-supervisors DIR``: do uncertainty monitors flag the divergences?"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from defenses import build_supervisors, evaluate_supervisors
from fuzzer.campaign.config import CampaignConfig
from fuzzer.entry.rerender import rerender
from fuzzer.campaign.storage.corpus import Corpus
from fuzzer.errors import DiverfuzzError
from fuzzer.models.pair import torch_threads
from fuzzer.campaign.workload import prepare, seed_input

SUPERVISORS_FILE = "supervisors.json"


def _has_dropout(model) -> bool:
    return isinstance(model, torch.nn.Module) and any(
        isinstance(m, torch.nn.modules.dropout._DropoutNd) for m in model.modules()
    )


def evaluate_campaign_supervisors(out: str | Path, *, false_alarm: float = 0.05) -> list:
    """Score every applicable supervisor of the campaign's reference model.

    Positives are the campaign's divergence-inducing mutants; negatives are
    the nominal (unfuzzed) seed data, with its labels (or, without labels,
    the reference's own predictions). Softmax-based supervisors always
    apply; MC-dropout ones only when the reference has dropout layers.
    Results go to ``DIR/supervisors.json`` and into the corpus, so the
    HTML report shows them (``diverfuzz report DIR`` re-renders it).
    """
    if not 0.0 < false_alarm < 1.0:
        raise DiverfuzzError(f"--false-alarm={false_alarm!r} must lie in (0, 1)")
    out = Path(out)
    corpus, stored = Corpus.of_campaign(out)
    with corpus:
        config = CampaignConfig.from_dict(stored)
        divergences = [d for _, d in corpus.divergences()]
    if not divergences:
        raise DiverfuzzError(f"DIR={str(out)!r} has no divergences to evaluate supervisors on")
    with torch_threads(config.threads):
        workload = prepare(config)
        reference = workload.pair.reference
        divergent = np.stack([d.chain.apply(seed_input(workload, d.seed_index)) for d in divergences])
        nominal_y = workload.y
        if nominal_y is None:
            nominal_y = workload.pair.logits(workload.x)[0].argmax(axis=1)
        supervisors = build_supervisors(reference, mc_model=reference if _has_dropout(reference) else None)
        scores = evaluate_supervisors(
            supervisors, workload.x, nominal_y, divergent, false_alarm=false_alarm, model=reference, seed=config.rng_seed
        )
    rows = [s.to_dict() for s in scores]
    (out / SUPERVISORS_FILE).write_text(json.dumps(rows, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    with Corpus.in_folder(out) as corpus:
        corpus.set_meta("supervisors", {"false_alarm": false_alarm, "scores": rows})
    rerender(out, ("html", "json"))
    return scores
