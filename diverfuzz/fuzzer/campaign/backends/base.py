"""What every backend implements: run seed indices, hand each outcome to ``store``."""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.seed import SeedOutcome
from diverfuzz.fuzzer.campaign.workload import Workload

#: The driver's callback for one finished seed (writes the corpus, updates progress).
StoreFn = Callable[[SeedOutcome], None]


class Backend(Protocol):
    """Fuzzes seed indices and hands each outcome to ``store``.

    ``run`` returns once every index is stored; it lets exceptions from
    ``store`` (Ctrl-C in a progress callback, a model error) and from the
    search propagate after stopping its workers.
    """

    name: str

    def run(self, config: CampaignConfig, workload: Workload, indices: Sequence[int], store: StoreFn) -> None:
        ...
