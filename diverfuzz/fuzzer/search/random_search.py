"""Random search: the baseline every guided strategy must beat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search.evaluate import SeedEvaluator
from diverfuzz.fuzzer.search.individuals import (
    _chain,
    _individual,
    block_layout,
    repair,
)
from diverfuzz.fuzzer.search.noise_steps import draw_step, noise_relations
from diverfuzz.fuzzer.search.space import SearchSpace


@dataclass(frozen=True)
class RandomSearch:
    """Independent random chains, evaluated in batches of ``batch_size``.

    Parameters
    ----------
    batch_size : int, optional
        Chains per evaluated batch (default 20; the campaign's ``--population``).
    repair : int, optional
        Bisection steps of validity repair, the genetic search's
        (:func:`~diverfuzz.fuzzer.search.genetic.repair`; default 0: off). With
        ``k > 0`` every sampled chain the validity rule rejects is scaled
        towards the identity by the strongest factor in ``{j / 2**k}`` that
        makes it valid before it is queried (validity metrics only, no model
        query). Default chosen on the bundled digits pair by
        ``bench/random_repair.py``: see the Notes.
    tail : bool, optional
        Give half the chains one seeded pixel-noise step after the genome's
        chain, as the genetic search's first population has (default False).

    Notes
    -----
    Genomes are sampled exactly as the genetic strategy samples its first
    population (:meth:`SearchSpace.sample`, with ``scale`` 1), and the budget
    accounting is the same. With the defaults, random search and the genetic
    search also differ, beyond the guidance, in two ways: the genetic search
    repairs every rejected candidate to the validity boundary before querying
    it (``repair=5`` by default there; 0 here) and gives half its first
    population a pixel-noise tail that its operators then grow (none here).
    ``repair`` and ``tail`` switch each on, so "random with ``repair=5,
    tail=True``" differs from the genetic search by the guidance alone
    (selection, crossover, mutation, restarts, adaptive operators).

    Both stay off by default: random is the plain, unguided baseline, and
    on the bundled digits pair against ``int8-static``
    (``bench/random_repair.py``, 10 randomly drawn seeds x 3 RNG seeds,
    budget 1000, mode ``first``) they raised its success, but within
    overlapping intervals (no significant difference at this size): under the default rule (``natural``) from 0.10
    [0.03, 0.26] to 0.17 [0.07, 0.34] with repair and 0.27 [0.14, 0.44]
    with repair and tail; under ``psnr>=20`` from 0.03 [0.01, 0.17] to 0.03
    and 0.07 [0.02, 0.21] (95% Wilson intervals). ``bench/search_suite.py``
    includes both in random's tuning grid, so its tuned random can use them.

    In a natural space (:meth:`SearchSpace.natural`) every active relation's
    parameters are drawn uniformly over their natural ranges instead
    (``uniform=True``): random search is then uniform sampling of the natural
    distortion model, the honest baseline a guided search must beat there.
    Repair and the tail keep a chain inside that model (repair only scales
    parameters towards the identity; the tail's relations are the space's).
    """

    batch_size: int = 20
    repair: int = 0
    tail: bool = False
    name: str = "random"

    def __post_init__(self) -> None:
        if self.repair < 0:
            raise DiverfuzzError(f"random repair={self.repair} must be >= 0 (bisection steps; 0 = off)")

    def search(self, evaluator: SeedEvaluator, space: SearchSpace, rng: np.random.Generator) -> None:
        noise = noise_relations(space) if self.tail else ()
        blocks = block_layout(space)
        while not evaluator.done:
            genomes = space.sample(rng, min(self.batch_size, evaluator.remaining), uniform=space.severity is not None)
            if not self.repair and not self.tail:
                evaluator.evaluate([space.decode(g) for g in genomes])
                continue
            individuals = [
                _individual(g.tolist(), [draw_step(noise, rng, strength=0.5)] if self.tail and rng.random() < 0.5 else [])
                for g in genomes
            ]
            repair(evaluator, space, individuals, self.repair, blocks)
            evaluator.evaluate([_chain(space, ind) for ind in individuals])
