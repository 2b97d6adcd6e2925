"""The ``local`` backend: seeds in this process, one at a time or ``workers`` at a time in threads."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Sequence

from diverfuzz.fuzzer.campaign.backends.base import StoreFn
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.seed import SeedOutcome, fuzz_seed, search_setup
from diverfuzz.fuzzer.campaign.workload import Workload
from diverfuzz.models.pair import PairLocks, SerialPair


class LocalBackend:
    """Fuzz the seeds in the calling process (the default).

    Parameters
    ----------
    workers : int, optional
        Seeds fuzzed at once (default 1: one after another, in index
        order). With more, each seed runs in a thread of its own over the
        same models, each of which takes one call at a time
        (:class:`~diverfuzz.models.pair.SerialPair`): while one seed's batch is
        in a model, the others apply relations and validity metrics (NumPy,
        SciPy and scikit-image release Python's lock on large arrays, ONNX
        Runtime and torch during inference). Unlike ``process`` and ``ray``
        it works on in-memory models (``run_campaign(workload=...)``,
        ``check()``) and builds nothing twice. A seed's outcome depends only on
        the seed (:func:`~diverfuzz.fuzzer.campaign.seed.fuzz_seed`), so nothing found
        depends on ``workers``.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def run(self, config: CampaignConfig, workload: Workload, indices: Sequence[int], store: StoreFn) -> None:
        if self.workers <= 1 or len(indices) <= 1:
            strategy, space, validity = search_setup(config, workload)
            for index in indices:
                store(fuzz_seed(config, workload, int(index), strategy, space, validity))
            return
        locks = PairLocks.for_pair(workload.pair)

        def one(index: int) -> SeedOutcome:
            # A strategy, search space and pair view per seed: nothing mutable is shared but the models.
            view = replace(workload, pair=SerialPair(workload.pair, locks))
            strategy, space, validity = search_setup(config, view)
            return fuzz_seed(config, view, index, strategy, space, validity)

        with ThreadPoolExecutor(self.workers, thread_name_prefix="diverfuzz-seed") as pool:
            futures: dict[Future, int] = {pool.submit(one, int(index)): int(index) for index in indices}
            try:
                running = set(futures)
                while running:
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in sorted(finished, key=futures.__getitem__):
                        store(future.result())
            finally:
                # Interrupted or failed: seeds not started are dropped; running ones stop at their next
                # model call (SeedStopped) and are dropped too, rather than run to their budget.
                locks.stop.set()
                for future in futures:
                    future.cancel()
