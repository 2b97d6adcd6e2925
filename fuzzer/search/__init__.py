"""Search strategies behind one interface (:class:`fuzzer.search.base.Strategy`)."""

from __future__ import annotations

from fuzzer.errors import DiverfuzzError
from fuzzer.search.base import Strategy
from fuzzer.search.genetic import GeneticSearch
from fuzzer.search.random_search import RandomSearch
from fuzzer.search.space import DEFAULT_RELATIONS, SearchSpace

STRATEGIES = ("genetic", "random")


def get_strategy(name: str, *, population: int = 20) -> Strategy:
    """The strategy called ``name`` (``genetic`` or ``random``)."""
    if name == "genetic":
        return GeneticSearch(population=population)
    if name == "random":
        return RandomSearch(batch_size=population)
    raise DiverfuzzError(f"--strategy={name!r} is unknown; choose one of {', '.join(STRATEGIES)}")


__all__ = ["DEFAULT_RELATIONS", "GeneticSearch", "RandomSearch", "STRATEGIES", "SearchSpace", "Strategy", "get_strategy"]
