"""Where a campaign's seeds are fuzzed: this process (one seed at a time, or in threads), a process pool, or Ray actors.

Every backend runs :func:`diverfuzz.fuzzer.campaign.seed.fuzz_seed` on the seed indices the
driver hands it and passes each :class:`~diverfuzz.fuzzer.campaign.seed.SeedOutcome` to the
driver's ``store`` callback as soon as it is known, in whatever order seeds
finish. The driver alone writes the corpus (one writer, one transaction per
seed). A seed's outcome depends on the campaign config and its index only
(:func:`diverfuzz.fuzzer.campaign.seed.seed_rng`), so every backend finds the same
divergences; only the order of storage differs.

The local backend's seed threads (``--workers N``) share the driver's models
through :class:`~diverfuzz.models.pair.SerialPair` views (each model one call at
a time). Process and Ray workers never receive user objects: each builds the
model pair from the
:class:`~diverfuzz.fuzzer.campaign.config.CampaignConfig` (factories ``FILE.py:FUNC``, data
files, bundled examples) with :func:`diverfuzz.fuzzer.campaign.workload.prepare`, once, and
checks that its models' fingerprints match the driver's.
"""

from __future__ import annotations

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.backends.base import Backend, StoreFn
from diverfuzz.fuzzer.campaign.backends.local import LocalBackend
from diverfuzz.fuzzer.campaign.backends.process import ProcessBackend
from diverfuzz.fuzzer.campaign.config import CampaignConfig


def get_backend(config: CampaignConfig, *, workload_given: bool = False) -> Backend:
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
    if config.backend == "local":
        return LocalBackend(config.workers)
    if workload_given:
        raise DiverfuzzError(
            f"--backend={config.backend!r} rebuilds the models in each worker from the config, so it cannot "
            "use the in-memory models passed as run_campaign(workload=...); name them in the config "
            "(model='FILE.py:FUNC', candidate='FILE.py:FUNC' or precision=..., data='FILE.npz', or a bundled "
            "example) and leave workload out, or use backend='local'"
        )
    if config.backend == "process":
        return ProcessBackend(config.workers)
    if config.backend == "ray":
        # Lazy: Ray is an optional, heavy dependency (the ``ray`` extra).
        from diverfuzz.fuzzer.campaign.backends.ray_backend import RayBackend

        return RayBackend(config.workers, address=config.ray_address)
    raise DiverfuzzError(f"--backend={config.backend!r} is unknown; choose one of local, process, ray")


__all__ = ["Backend", "StoreFn", "get_backend"]
