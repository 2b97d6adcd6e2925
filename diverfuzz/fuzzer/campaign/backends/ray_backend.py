"""The ``ray`` backend: Ray actors that each load the model pair once.

Without ``ray_address`` a local Ray instance with one CPU per worker is
started (and shut down after the campaign); with it, the campaign joins that
cluster (``auto``, ``HOST:PORT``, or ``ray://HOST:PORT`` with ``ray[client]``).
On a cluster every node must see the files the config names (factories,
``--data``) at the same paths, and have diverfuzz installed.

Each actor gets up to :data:`IN_FLIGHT` seeds at a time; outcomes stream
back to the driver, which stores them. An actor that dies is restarted by
Ray (it rebuilds the workload) and the seeds it held are retried
(``max_restarts`` / ``max_task_retries``), so nothing is lost; the driver
stores each seed once.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Sequence

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.backends.base import StoreFn
from diverfuzz.fuzzer.campaign.backends.worker import (
    SeedWorker,
    check_fingerprints,
    from_wire,
)
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.workload import Workload

#: Restarts of one actor (and retries of one seed on it) before the campaign stops.
MAX_RESTARTS = 3
#: Seeds queued per actor, so it never idles while the driver stores a result.
IN_FLIGHT = 2

INSTALL_HINT = "--backend ray needs Ray: pip install 'diverfuzz[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`DiverfuzzError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise DiverfuzzError(INSTALL_HINT) from exc
    return ray


class RayBackend:
    """Fuzz seeds on ``workers`` Ray actors.

    Parameters
    ----------
    workers : int
        Actors (>= 1); each reserves ``config.threads`` CPUs.
    address : str or None
        Cluster to join; None starts a local Ray instance (reused if this
        process already called ``ray.init``).
    """

    name = "ray"

    def __init__(self, workers: int, *, address: str | None = None) -> None:
        self.ray = import_ray()
        self.workers = workers
        self.address = address

    def run(self, config: CampaignConfig, workload: Workload, indices: Sequence[int], store: StoreFn) -> None:
        ray = self.ray
        if not indices:
            return
        started_here = not ray.is_initialized()
        if started_here:
            if self.address is not None:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=self.workers * config.threads,
                    include_dashboard=False,
                    log_to_driver=False,
                )
        actors: list = []
        try:
            actor_class = ray.remote(
                num_cpus=config.threads, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS
            )(SeedWorker)
            actors = [actor_class.remote(config) for _ in range(min(self.workers, len(indices)))]
            self._dispatch(actors, workload.pair.fingerprints(), [int(i) for i in indices], store)
        finally:
            for actor in actors:
                ray.kill(actor)
            if started_here:
                ray.shutdown()

    def _dispatch(self, actors: list, expected: dict[str, str], indices: list[int], store: StoreFn) -> None:
        ray = self.ray
        queue = deque(indices)
        in_flight: dict = {}

        def submit(actor) -> None:
            if queue:
                index = queue.popleft()
                in_flight[actor.fuzz.remote(index)] = (actor, index)

        for _ in range(IN_FLIGHT):
            for actor in actors:
                submit(actor)
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            actor, index = in_flight.pop(ready[0])
            try:
                fingerprints, outcome = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, DiverfuzzError):
                    raise exc.cause from None
                raise DiverfuzzError(f"--backend ray: fuzzing seed {index} failed: {exc.cause!r}") from exc
            except ray.exceptions.RayActorError as exc:
                raise DiverfuzzError(
                    f"--backend ray: a worker died more than {MAX_RESTARTS} times (last while fuzzing seed {index}); "
                    "a seed may crash the model (run it with --backend local to see the error), or the "
                    f"workers run out of memory (use fewer --workers): {exc}"
                ) from exc
            check_fingerprints(expected, fingerprints)
            store(from_wire(outcome))
            submit(actor)
