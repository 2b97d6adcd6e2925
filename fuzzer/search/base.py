"""The interface every search strategy implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from fuzzer.evaluate import SeedEvaluator
from fuzzer.search.space import SearchSpace


class Strategy(Protocol):
    """Searches one seed until the evaluator's budget is spent or a divergence is found.

    A strategy proposes chains and reads back their fitness; it never sees
    the models or the oracle, so a new strategy never touches an oracle and
    vice versa. All its randomness comes from ``rng``.
    """

    name: str

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        ...
