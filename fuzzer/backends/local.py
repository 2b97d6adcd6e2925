"""The ``local`` backend: seeds one after another in this process."""

from __future__ import annotations

from typing import Sequence

from fuzzer.backends import StoreFn
from fuzzer.config import CampaignConfig
from fuzzer.workload import Workload


class LocalBackend:
    """Fuzz every seed in the calling process, in index order (the default)."""

    name = "local"

    def run(self, config: CampaignConfig, workload: Workload, indices: Sequence[int], store: StoreFn) -> None:
        from fuzzer.campaign import fuzz_seed, search_setup

        strategy, space, validity = search_setup(config, workload)
        for index in indices:
            store(fuzz_seed(config, workload, int(index), strategy, space, validity))
