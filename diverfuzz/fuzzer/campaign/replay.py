"""Replay: re-execute stored divergences and judge them again, the same way everywhere.

One function, :func:`replay_stored`, serves ``diverfuzz replay DIR`` (the
campaign corpus), ``check()`` and the pytest plugin (the regression corpus).
For each stored divergence it rebuilds the mutant from its seed and the
chain that is stored (the minimal one when it was shrunk), and checks:

1. the label pair: reference and candidate give the recorded labels again;
2. validity: the mutant still meets the campaign's validity rule;
3. triage: MCA triage (:func:`diverfuzz.oracles.triage`) computed on that same mutant,
   so a replayed divergence is judged ``precision-induced`` or
   ``reference-unstable`` on the input that is stored, not on another one.

A divergence reproduces when 1 and 2 hold; its triage says whether it
counts against the counterpart (``check()`` counts ``precision-induced``
ones by default, as it does for fresh divergences).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.rebuild import build_workload, model_changes, open_stored
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.storage.stored import StoredDivergence
from diverfuzz.fuzzer.campaign.workload import ROLES, Workload
from diverfuzz.models.pair import ModelPair, torch_threads
from diverfuzz.oracles import triage
from diverfuzz.oracles.triage import NotTriaged, not_triaged, triage_obstacle
from diverfuzz.relations import Validity, natural


def triage_mutants(reference: object, mutants: np.ndarray, seed_index: int) -> list[dict | None]:
    """MCA triage of ``mutants`` (all from seed ``seed_index``), one dict per mutant.

    ``{"label": "not triaged", "reason": ...}`` for each when MCA cannot reach the
    reference's arithmetic (:func:`diverfuzz.oracles.triage.triage_obstacle`: a plain
    callable, a model file behind a preprocessing wrapper or not; or, found on the plain
    pass, a TorchScript or torch.export module: then ``"samples": 0``, and that pass counts
    as triage evaluations); ``{"label": "unknown", "error": ...}`` when MCA fails on the
    module. Either way the divergence stands.
    """
    if len(mutants) == 0:
        return []
    if (reason := triage_obstacle(reference)) is not None:
        return [not_triaged(reason) for _ in mutants]
    try:
        return [t.to_dict() for t in triage(reference, mutants, seed=seed_index)]
    except NotTriaged as exc:
        return [{**not_triaged(str(exc)), "samples": 0} for _ in mutants]
    except Exception as exc:  # MCA cannot instrument every model; the divergence stands
        return [{"label": "unknown", "error": f"{type(exc).__name__}: {exc}"}] * len(mutants)


@dataclass(frozen=True)
class ReplayOutcome:
    """How one stored divergence replayed.

    ``reproduced`` is True when the replayed label pair equals the stored
    one and the mutant is still valid; ``reason`` says what failed otherwise.
    """

    stored: StoredDivergence
    reference_label: int
    candidate_label: int
    valid: bool
    validity: dict
    triage: dict | None

    @property
    def labels_match(self) -> bool:
        return (self.reference_label, self.candidate_label) == (self.stored.reference_label, self.stored.candidate_label)

    @property
    def reproduced(self) -> bool:
        return self.labels_match and self.valid

    @property
    def precision_induced(self) -> bool:
        """False only when triage says the reference itself is unstable there."""
        return (self.triage or {}).get("label") != "reference-unstable"

    @property
    def reason(self) -> str | None:
        s = self.stored
        if not self.labels_match:
            return (
                f"{s.key} (seed {s.seed_index}): recorded {s.reference_label} vs {s.candidate_label}, "
                f"replayed {self.reference_label} vs {self.candidate_label}"
            )
        if not self.valid:
            return f"{s.key} (seed {s.seed_index}): the mutant no longer meets the validity rule ({self.validity})"
        return None


def replay_stored(
    pair: ModelPair, seeds: np.ndarray, stored: Sequence[StoredDivergence], validity: Validity | str
) -> list[ReplayOutcome]:
    """Re-execute and re-judge ``stored`` divergences (see the module docstring).

    Parameters
    ----------
    pair : ModelPair
        The models, as the campaign (or check) builds them.
    seeds : ndarray, (N, *input_shape)
        The seed data the stored seed indices refer to.
    stored : sequence of StoredDivergence
        From ``Corpus.stored()`` or ``RegressionCorpus.stored(seeds)``.
    validity : Validity or str
        The rule the mutants must still meet.

    Returns
    -------
    list of ReplayOutcome, in the order of ``stored``.
    """
    if not stored:
        return []
    validity = Validity.parse(validity) if isinstance(validity, str) else validity
    mutants = np.stack([s.chain.apply(np.ascontiguousarray(seeds[s.seed_index], np.float32)) for s in stored])
    ref, cand = pair.logits(mutants)
    valid: list[bool] = [False] * len(stored)
    metrics: list[dict] = [{}] * len(stored)
    triages: list[dict | None] = [None] * len(stored)
    by_seed: dict[int, list[int]] = defaultdict(list)
    for k, s in enumerate(stored):
        by_seed[s.seed_index].append(k)
    for seed_index, rows in by_seed.items():
        seed = np.ascontiguousarray(seeds[seed_index], np.float32)
        ok, found, _ = natural.judge(validity, seed, [stored[k].chain for k in rows], mutants[rows])
        # Triage per seed, as the campaign does, so the MCA streams match.
        judged = triage_mutants(pair.reference, mutants[rows], seed_index)
        for row, v, m, t in zip(rows, ok, found, judged):
            valid[row], metrics[row], triages[row] = bool(v), m, t
    return [
        ReplayOutcome(s, int(r), int(c), valid[k], metrics[k], triages[k])
        for k, (s, r, c) in enumerate(zip(stored, ref.argmax(axis=1), cand.argmax(axis=1)))
    ]


@dataclass
class ReplayResult:
    """What :func:`replay` found.

    ``notes`` are lines for the user (files found relative to the folder,
    not at their stored absolute paths); ``changed`` names each model that
    is not the one the campaign ran with (its fingerprint differs): the
    reason its divergences would not reproduce.
    """

    total: int = 0
    reproduced: int = 0
    failures: list[str] = field(default_factory=list)
    outcomes: list[ReplayOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reproduced == self.total


def replay(out: str | Path, *, workload: Workload | None = None, ids: set[int] | None = None) -> ReplayResult:
    """Rebuild the campaign's models and data and replay every divergence in ``out``.

    ``ids`` restricts the replay to those divergence ids. Each divergence is
    judged by :func:`replay_stored` with the campaign's validity rule.
    Without ``workload`` the models and data are rebuilt as the campaign
    built them (:func:`diverfuzz.fuzzer.campaign.rebuild.build_workload`); a
    campaign whose models were given in memory is refused in one line, and
    models whose fingerprints changed since are named in ``changed``.
    """
    out = Path(out)
    corpus, stored_config = Corpus.of_campaign(out)
    with corpus:
        campaign = open_stored(out, corpus, stored_config, roles=() if workload is not None else ROLES)
        config = campaign.config
        stored = corpus.stored(ids)
    if ids is not None and len(stored) != len(ids):
        found = {int(s.key.split()[-1]) for s in stored}
        missing = sorted(ids - found)
        raise DiverfuzzError(f"--id={','.join(map(str, missing))}: no such divergence in {str(out)!r}")
    changed: list[str] = []
    with torch_threads(config.threads):
        if workload is None:
            workload = build_workload(campaign)
            changed = model_changes(campaign, workload)
        outcomes = replay_stored(workload.pair, workload.x, stored, config.validity)
    result = ReplayResult(total=len(outcomes), outcomes=outcomes, notes=campaign.notes, changed=changed)
    for o in outcomes:
        if o.reproduced:
            result.reproduced += 1
        else:
            result.failures.append(o.reason or o.stored.key)
    return result
