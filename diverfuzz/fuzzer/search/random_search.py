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
    accounting. In a natural space (:meth:`SearchSpace.natural`) every active
    relation's parameters are drawn uniformly over their natural ranges instead
    (``uniform=True``): random search is then uniform sampling of the natural
    distortion model, the honest baseline a guided search must beat there.
    """

    batch_size: int = 20
    name: str = "random"

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        while not evaluator.done:
            genomes = space.sample(rng, min(self.batch_size, evaluator.remaining), uniform=space.severity is not None)
            evaluator.evaluate([space.decode(g) for g in genomes])
