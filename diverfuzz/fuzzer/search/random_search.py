"""Random search: the baseline every guided strategy must beat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.space import SearchSpace


@dataclass(frozen=True)
class RandomSearch:
    """Independent random chains, evaluated in batches of ``batch_size``.

    Samples genomes exactly as the genetic strategy seeds its first
    population, so the two differ only by the guidance, with the same budget
    accounting.
    """

    batch_size: int = 20
    name: str = "random"

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        while not evaluator.done:
            genomes = space.sample(rng, min(self.batch_size, evaluator.remaining))
            evaluator.evaluate([space.decode(g) for g in genomes])
