"""The ``process`` backend: a local pool of spawned worker processes.

Each worker builds the workload once (pool initializer) and fuzzes one seed
per task; outcomes stream back to the driver, which stores them. A worker
that dies (killed, out of memory, a crashing native library) breaks a
:class:`~concurrent.futures.ProcessPoolExecutor`; the pool is then rebuilt
and every seed not yet stored is submitted again, so nothing is lost and,
since only stored seeds are skipped, nothing is stored twice.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Sequence

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.backends.base import StoreFn
from diverfuzz.fuzzer.campaign.backends.worker import (
    SeedWorker,
    WireOutcome,
    check_fingerprints,
    from_wire,
)
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.workload import Workload

#: Pool rebuilds allowed in a row without any seed finishing in between;
#: beyond that a seed crashes its worker every time and the campaign stops.
MAX_FRUITLESS_RESTARTS = 3

_WORKER: SeedWorker | None = None


def _init_worker(config: CampaignConfig) -> None:
    global _WORKER
    _WORKER = SeedWorker(config)


def _fuzz(index: int) -> tuple[dict[str, str], WireOutcome]:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise DiverfuzzError("process worker used before its initializer ran")
    return _WORKER.fuzz(index)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the pool now: cancel queued seeds and end running workers."""
    # The executor keeps its processes in a private dict; terminating them is
    # the only way not to wait for the seeds they are searching.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


class ProcessBackend:
    """Fuzz seeds in ``workers`` spawned processes on this machine.

    Parameters
    ----------
    workers : int
        Worker processes (>= 1). Each uses ``config.threads`` torch threads.
    """

    name = "process"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        #: Pools built by the last :meth:`run` (1 + worker deaths recovered from).
        self.pools_started = 0

    def run(self, config: CampaignConfig, workload: Workload, indices: Sequence[int], store: StoreFn) -> None:
        expected = workload.pair.fingerprints()
        todo = [int(i) for i in indices]
        context = multiprocessing.get_context("spawn")
        fruitless = 0
        self.pools_started = 0
        while todo:
            pool = ProcessPoolExecutor(
                max_workers=min(self.workers, len(todo)),
                mp_context=context,
                initializer=_init_worker,
                initargs=(config,),
            )
            self.pools_started += 1
            stored: set[int] = set()
            try:
                futures: dict[Future, int] = {pool.submit(_fuzz, index): index for index in todo}
                running = set(futures)
                while running:
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in sorted(finished, key=futures.__getitem__):
                        fingerprints, outcome = future.result()  # BrokenProcessPool if a worker died
                        check_fingerprints(expected, fingerprints)
                        store(from_wire(outcome))
                        stored.add(futures[future])
            except BrokenProcessPool as exc:
                todo = [i for i in todo if i not in stored]
                fruitless = 0 if stored else fruitless + 1
                if fruitless > MAX_FRUITLESS_RESTARTS:
                    raise DiverfuzzError(
                        f"--backend process: a worker died {fruitless} times in a row while fuzzing seeds "
                        f"{todo[:10]}{' ...' if len(todo) > 10 else ''} and no seed finished in between "
                        f"({exc}); a seed may crash the model (run it with --backend local to see the error), "
                        "or the workers run out of memory (use fewer --workers)"
                    ) from exc
                continue  # a fresh pool re-runs the seeds not yet stored
            finally:
                _stop(pool)
            todo = []
