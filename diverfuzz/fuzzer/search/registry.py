"""The strategy a name selects."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Mapping

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.search.base import Strategy
from diverfuzz.fuzzer.search.dflare import DFlareSearch
from diverfuzz.fuzzer.search.diffchaser import DiffChaserSearch
from diverfuzz.fuzzer.search.genetic import GeneticSearch
from diverfuzz.fuzzer.search.names import STRATEGIES
from diverfuzz.fuzzer.search.random_search import RandomSearch

#: Strategies whose population / batch is the campaign's ``--population``.
#: The baselines (diffchaser, dflare) keep their published defaults.
TAKES_POPULATION = ("genetic", "random")


def get_strategy(name: str, *, population: int | None = None, params: Mapping[str, Any] | None = None) -> Strategy:
    """The strategy called ``name`` (one of :data:`~diverfuzz.fuzzer.search.names.STRATEGIES`).

    Parameters
    ----------
    name : str
        Strategy name.
    population : int, optional
        The GA population (genetic) or random-search batch (random). Ignored
        by the baselines: DiffChaser and DFlare run with their published
        defaults unless ``params`` says otherwise. Default None: each
        strategy's own default.
    params : mapping, optional
        Field overrides of the strategy's dataclass (e.g. ``{"patience": 6}``,
        used by tuning in ``bench/search_suite.py``). Unknown names are refused.
    """
    if name == "genetic":
        strategy: Strategy = GeneticSearch() if population is None else GeneticSearch(population=population)
    elif name == "random":
        strategy = RandomSearch() if population is None else RandomSearch(batch_size=population)
    elif name == "diffchaser":
        strategy = DiffChaserSearch()
    elif name == "dflare":
        strategy = DFlareSearch()
    else:
        raise DiverfuzzError(f"--strategy={name!r} is unknown; choose one of {', '.join(STRATEGIES)}")
    if params:
        known = {f.name for f in fields(strategy)} - {"name"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise DiverfuzzError(f"strategy {name!r} has no parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for key, value in params.items():
            default = getattr(strategy, key)
            expected = float if isinstance(default, float) else type(default)
            ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                ok, value = True, float(value)
            if not ok:
                raise DiverfuzzError(
                    f"strategy {name!r} parameter {key}={value!r} must be "
                    f"{ {int: 'an integer', float: 'a number', bool: 'true or false'}.get(expected, 'text')} "
                    f"(default {default!r})"
                )
        strategy = replace(strategy, **{k: float(v) if isinstance(getattr(strategy, k), float) else v
                                        for k, v in params.items()})
    return strategy
