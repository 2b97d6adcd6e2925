"""Re-execute recorded divergences from their seed and chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fuzzer.campaign.config import CampaignConfig
from fuzzer.campaign.storage.corpus import Corpus
from fuzzer.errors import DiverfuzzError
from fuzzer.models.pair import torch_threads
from fuzzer.campaign.workload import Workload, prepare, seed_input


@dataclass
class ReplayResult:
    total: int = 0
    reproduced: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reproduced == self.total


def replay(out: str | Path, *, workload: Workload | None = None, ids: set[int] | None = None) -> ReplayResult:
    """Rebuild the campaign's models and data and re-run every divergence in ``out``.

    ``ids`` restricts the replay to those divergence ids. A divergence reproduces when the mutant rebuilt from its seed and chain
    gets the recorded reference and candidate labels again.
    """
    out = Path(out)
    corpus, stored = Corpus.of_campaign(out)
    with corpus:
        config = CampaignConfig.from_dict(stored)
        divergences = [(i, d) for i, d in corpus.divergences() if ids is None or i in ids]
    if ids is not None and len(divergences) != len(ids):
        missing = sorted(ids - {i for i, _ in divergences})
        raise DiverfuzzError(f"--id={','.join(map(str, missing))}: no such divergence in {str(out)!r}")
    with torch_threads(config.threads):
        return _replay(config, divergences, workload or prepare(config))


def _replay(config: CampaignConfig, divergences: list, workload: Workload) -> ReplayResult:
    result = ReplayResult(total=len(divergences))
    if not divergences:
        return result
    mutants = np.stack([d.chain.apply(seed_input(workload, d.seed_index)) for _, d in divergences])
    ref, cand = workload.pair.logits(mutants)
    for (div_id, d), r, c in zip(divergences, ref.argmax(axis=1), cand.argmax(axis=1)):
        if (int(r), int(c)) == (d.reference_label, d.candidate_label):
            result.reproduced += 1
        else:
            result.failures.append(
                f"divergence {div_id} (seed {d.seed_index}): recorded {d.reference_label} vs "
                f"{d.candidate_label}, replayed {int(r)} vs {int(c)}"
            )
    return result
