"""The genetic search's DEAP operators draw from Python's global ``random``
(:func:`diverfuzz.fuzzer.search.genetic._seeded_random`); seeds fuzzed in threads
(``--backend local --workers N``) must not reseed it under each other."""

from __future__ import annotations

import random
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from diverfuzz.fuzzer.search.genetic import _seeded_random


def _draws(seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(100):
        with _seeded_random(rng):
            out.append([random.random() for _ in range(50)])
    return out


def test_seeded_random_blocks_in_threads_draw_what_one_thread_draws():
    expected = [_draws(seed) for seed in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, inside the blocks too
    try:
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(_draws, range(4)))
    finally:
        sys.setswitchinterval(interval)
    assert got == expected
