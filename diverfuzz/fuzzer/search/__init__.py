"""Search strategies behind one interface, and what they search with.

- :mod:`diverfuzz.fuzzer.search.base`: the :class:`Strategy` interface.
- :mod:`diverfuzz.fuzzer.search.genetic` (DiverGet-style GA), :mod:`diverfuzz.fuzzer.search.diffchaser`,
  :mod:`diverfuzz.fuzzer.search.dflare`, :mod:`diverfuzz.fuzzer.search.random_search`: the strategies;
  :mod:`diverfuzz.fuzzer.search.registry` names them.
- :mod:`diverfuzz.fuzzer.search.space`: the relation search space; :mod:`diverfuzz.fuzzer.search.noise_steps`:
  the seeded pixel-level operators every strategy shares.
- :mod:`diverfuzz.fuzzer.search.evaluate`: scoring candidates against the model pair (the budget).
- :mod:`diverfuzz.fuzzer.search.shrink`: minimising a divergent chain.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from diverfuzz.fuzzer.search.names import STRATEGIES as STRATEGIES

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
