"""The ``local`` backend: seeds one after another in this process."""

from __future__ import annotations

from typing import Sequence

from fuzzer.campaign.backends.base import StoreFn
from fuzzer.campaign.config import CampaignConfig
from fuzzer.campaign.seed import fuzz_seed, search_setup
from fuzzer.campaign.workload import Workload


class LocalBackend:
    """Fuzz every seed in the calling process, in index order (the default)."""

    name = "local"

    def run(self, config: CampaignConfig, workload: Workload, indices: Sequence[int], store: StoreFn) -> None:
        strategy, space, validity = search_setup(config, workload)
        for index in indices:
            store(fuzz_seed(config, workload, int(index), strategy, space, validity))
