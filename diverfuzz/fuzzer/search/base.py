"""The interface every search strategy implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.space import SearchSpace


class Strategy(Protocol):
    """Searches one seed until the evaluator is :attr:`~diverfuzz.fuzzer.search.evaluate.SeedEvaluator.done`.

    That is: its budget is spent, or (mode ``first``) a divergence is found.
    Every candidate is a :class:`diverfuzz.relations.Chain` passed to
    :meth:`~diverfuzz.fuzzer.search.evaluate.SeedEvaluator.evaluate`, which truncates batches
    to the remaining budget, so budgets hold exactly.

    A strategy proposes chains and reads back, per candidate, validity,
    divergence and both models' probabilities (:class:`~diverfuzz.fuzzer.search.evaluate.BatchResult`),
    from which it computes its own objective (:mod:`diverfuzz.fuzzer.search.objectives`);
    it never sees the models or the oracle, so a new strategy never touches
    an oracle and vice versa. All its randomness comes from ``rng``.
    """

    name: str

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        ...
