"""Where a campaign's seeds are fuzzed: this process, a process pool, or Ray actors.

Every backend runs :func:`fuzzer.campaign.fuzz_seed` on the seed indices the
driver hands it and passes each :class:`~fuzzer.campaign.SeedOutcome` to the
driver's ``store`` callback as soon as it is known, in whatever order seeds
finish. The driver alone writes the corpus (one writer, one transaction per
seed). A seed's outcome depends on the campaign config and its index only
(:func:`fuzzer.campaign.seed_rng`), so every backend finds the same
divergences; only the order of storage differs.

Workers never receive user objects: each builds the model pair from the
:class:`~fuzzer.config.CampaignConfig` (factories ``FILE.py:FUNC``, data
files, bundled examples) with :func:`fuzzer.workload.prepare`, once, and
checks that its models' fingerprints match the driver's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from fuzzer.errors import DiverfuzzError

if TYPE_CHECKING:
    from fuzzer.campaign import SeedOutcome
    from fuzzer.config import CampaignConfig
    from fuzzer.workload import Workload

#: The driver's callback for one finished seed (writes the corpus, updates progress).
StoreFn = Callable[["SeedOutcome"], None]


class Backend(Protocol):
    """Fuzzes seed indices and hands each outcome to ``store``.

    ``run`` returns once every index is stored; it lets exceptions from
    ``store`` (Ctrl-C in a progress callback, a model error) and from the
    search propagate after stopping its workers.
    """

    name: str

    def run(self, config: "CampaignConfig", workload: "Workload", indices: Sequence[int], store: StoreFn) -> None:
        ...


def get_backend(config: "CampaignConfig", *, workload_given: bool = False) -> Backend:
    """The backend ``config.backend`` names, checked before any work starts.

    Parameters
    ----------
    config : CampaignConfig
        ``backend`` (``local``, ``process`` or ``ray``), ``workers`` and ``ray_address``.
    workload_given : bool, optional
        True when the caller built the workload itself (``run_campaign(workload=...)``):
        only ``local`` can use it, since workers rebuild the models from the config.

    Raises
    ------
    DiverfuzzError
        For ``process``/``ray`` with ``workload_given``, or ``ray`` without Ray installed.
    """
    from fuzzer.backends.local import LocalBackend

    if config.backend == "local":
        return LocalBackend()
    if workload_given:
        raise DiverfuzzError(
            f"--backend={config.backend!r} rebuilds the models in each worker from the config, so it cannot "
            "use the in-memory models passed as run_campaign(workload=...); name them in the config "
            "(model='FILE.py:FUNC', candidate='FILE.py:FUNC' or precision=..., data='FILE.npz', or a bundled "
            "example) and leave workload out, or use backend='local'"
        )
    if config.backend == "process":
        from fuzzer.backends.process import ProcessBackend

        return ProcessBackend(config.workers)
    if config.backend == "ray":
        from fuzzer.backends.ray_backend import RayBackend

        return RayBackend(config.workers, address=config.ray_address)
    raise DiverfuzzError(f"--backend={config.backend!r} is unknown; choose one of local, process, ray")


__all__ = ["Backend", "StoreFn", "get_backend"]
