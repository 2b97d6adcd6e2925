"""SerialPair: threads share one ModelPair; each model runs one call at a time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import ModelError
from diverfuzz.models.pair import ModelPair, PairLocks, SeedStopped, SerialPair


class OneCallAtATime:
    """A model that is not thread-safe: it records whether two calls ever overlapped."""

    def __init__(self, classes: int = 3) -> None:
        self.inside = 0
        self.overlapped = False
        self.calls = 0
        self.classes = classes
        self._guard = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with self._guard:
            self.inside += 1
            self.overlapped |= self.inside > 1
            self.calls += 1
        time.sleep(0.002)  # long enough for another thread to come in
        with self._guard:
            self.inside -= 1
        return x.reshape(len(x), -1)[:, : self.classes].double()


def _batches(n: int = 24) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((4, 1, 4, 4), dtype=np.float32) for _ in range(n)]


def test_views_never_run_a_model_twice_at_once_and_count_their_own_queries():
    reference, candidate = OneCallAtATime(), OneCallAtATime()
    pair = ModelPair(reference, candidate)
    locks = PairLocks.for_pair(pair)
    views = [SerialPair(pair, locks) for _ in range(4)]
    batches = _batches()
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda i: views[i % 4].logits(batches[i]), range(len(batches))))
    assert not reference.overlapped and not candidate.overlapped
    assert reference.calls == candidate.calls == len(batches)
    for batch, (ref, cand) in zip(batches, outs):
        want = batch.reshape(4, -1)[:, :3]
        assert np.array_equal(ref, want) and np.array_equal(cand, want)
    assert [v.queries for v in views] == [6 * 4] * 4
    assert pair.queries == 4 * len(batches)
    assert views[0].batch_size == pair.batch_size  # everything else is the shared pair's


def test_one_object_as_both_models_gets_one_lock_and_exclusive_does_not_deadlock():
    model = OneCallAtATime()
    pair = ModelPair(model, model)
    locks = PairLocks.for_pair(pair)
    assert locks.reference is locks.candidate
    view = SerialPair(pair, locks)
    batches = _batches(12)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(view.logits, batches))
        with view.exclusive():
            pass
    assert not model.overlapped and model.calls == 2 * len(batches)
    two = PairLocks.for_pair(ModelPair(OneCallAtATime(), OneCallAtATime()))
    assert two.reference is not two.candidate


def test_exclusive_keeps_both_models_out():
    reference, candidate = OneCallAtATime(), OneCallAtATime()
    pair = ModelPair(reference, candidate)
    view = SerialPair(pair, PairLocks.for_pair(pair))
    entered = threading.Event()
    with view.exclusive():
        worker = threading.Thread(target=lambda: (view.logits(_batches(1)[0]), entered.set()))
        worker.start()
        assert not entered.wait(0.2)  # blocked while held
        assert reference.calls == 0
    worker.join(5)
    assert entered.is_set() and reference.calls == 1


def test_different_class_counts_are_the_same_error_as_the_pair_gives():
    pair = ModelPair(OneCallAtATime(3), OneCallAtATime(2))
    view = SerialPair(pair, PairLocks.for_pair(pair))
    batch = _batches(1)[0]
    with pytest.raises(ModelError) as direct:
        pair.logits(batch)
    with pytest.raises(ModelError) as viewed:
        view.logits(batch)
    assert str(direct.value) == str(viewed.value) == "reference returns 3 classes but candidate returns 2"


def test_stopped_views_raise_without_calling_the_models():
    model = OneCallAtATime()
    pair = ModelPair(model, model)
    locks = PairLocks.for_pair(pair)
    view = SerialPair(pair, locks)
    view.logits(_batches(1)[0])
    locks.stop.set()
    with pytest.raises(SeedStopped):
        view.logits(_batches(1)[0])
    with pytest.raises(SeedStopped), view.exclusive():
        pass
    assert model.calls == 2 and view.queries == 4 and pair.queries == 4  # the first call only, both roles
