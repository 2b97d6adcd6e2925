"""The strategy a name selects."""

from __future__ import annotations

from fuzzer.errors import DiverfuzzError
from fuzzer.search.base import Strategy
from fuzzer.search.dflare import DFlareSearch
from fuzzer.search.diffchaser import DiffChaserSearch
from fuzzer.search.genetic import GeneticSearch
from fuzzer.search.names import STRATEGIES
from fuzzer.search.random_search import RandomSearch


def get_strategy(name: str, *, population: int = 20) -> Strategy:
    """The strategy called ``name`` (one of :data:`~fuzzer.search.names.STRATEGIES`).

    ``population`` is the GA population (genetic, diffchaser) or the
    random-search batch; DFlare proposes a few candidates at a time.
    """
    if name == "genetic":
        return GeneticSearch(population=population)
    if name == "random":
        return RandomSearch(batch_size=population)
    if name == "diffchaser":
        return DiffChaserSearch(population=population)
    if name == "dflare":
        return DFlareSearch()
    raise DiverfuzzError(f"--strategy={name!r} is unknown; choose one of {', '.join(STRATEGIES)}")
