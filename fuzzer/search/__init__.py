"""Search strategies behind one interface, and what they search with.

- :mod:`fuzzer.search.base`: the :class:`Strategy` interface.
- :mod:`fuzzer.search.genetic` (DiverGet-style GA), :mod:`fuzzer.search.diffchaser`,
  :mod:`fuzzer.search.dflare`, :mod:`fuzzer.search.random_search`: the strategies;
  :mod:`fuzzer.search.registry` names them.
- :mod:`fuzzer.search.space`: the relation search space; :mod:`fuzzer.search.noise_steps`:
  the seeded pixel-level operators every strategy shares.
- :mod:`fuzzer.search.evaluate`: scoring candidates against the model pair (the budget).
- :mod:`fuzzer.search.shrink`: minimising a divergent chain.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from fuzzer.search.names import STRATEGIES as STRATEGIES

#: Public name -> submodule defining it, loaded on first use (PEP 562): the
#: strategies import DEAP and torch, and a config check needs only the names.
_EXPORTS = {
    "Strategy": "base",
    "DFlareSearch": "dflare",
    "DiffChaserSearch": "diffchaser",
    "GeneticSearch": "genetic",
    "RandomSearch": "random_search",
    "DEFAULT_RELATIONS": "space",
    "SearchSpace": "space",
    "get_strategy": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted([*_EXPORTS, "STRATEGIES"])
