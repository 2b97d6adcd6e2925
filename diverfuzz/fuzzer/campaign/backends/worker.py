"""What runs inside a worker process or Ray actor: the workload, built once."""

from __future__ import annotations

from dataclasses import asdict, fields, replace

import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.seed import SeedOutcome, fuzz_seed, search_setup
from diverfuzz.fuzzer.campaign.storage.corpus import SeedRecord
from diverfuzz.fuzzer.campaign.workload import prepare
from diverfuzz.fuzzer.search.evaluate import Divergence
from diverfuzz.relations import Chain

#: What a worker sends back for one seed: plain numbers, strings, lists and
#: dicts (chains as JSON), picklable by any transport.
WireOutcome = dict


def to_wire(outcome: SeedOutcome) -> WireOutcome:
    """``outcome`` as plain data (chains as their JSON)."""
    divergences = []
    for d in outcome.divergences:
        row = {f.name: getattr(d, f.name) for f in fields(Divergence)}
        row["chain"] = d.chain.to_json()
        row["minimal_chain"] = None if d.minimal_chain is None else d.minimal_chain.to_json()
        row["validity"] = dict(d.validity)
        row["pixel_validity"] = None if d.pixel_validity is None else dict(d.pixel_validity)
        divergences.append(row)
    return {
        "record": asdict(outcome.record),
        "divergences": divergences,
        "error": outcome.error,
        "model_error": outcome.model_error,
        "counters": dict(outcome.counters),
    }


def from_wire(data: WireOutcome) -> SeedOutcome:
    """The :class:`SeedOutcome` :func:`to_wire` encoded."""
    divergences = []
    for row in data["divergences"]:
        row = dict(row)
        row["chain"] = Chain.from_json(row["chain"])
        if row["minimal_chain"] is not None:
            row["minimal_chain"] = Chain.from_json(row["minimal_chain"])
        divergences.append(Divergence(**row))
    return SeedOutcome(
        SeedRecord(**data["record"]), tuple(divergences), data["error"], data["model_error"], data.get("counters", {})
    )


class SeedWorker:
    """Builds the model pair from ``config`` once, then fuzzes seeds on request.

    A failure to build (a factory that raises) is kept and raised by the
    first :meth:`fuzz` call, so the driver sees the original message.
    """

    def __init__(self, config: CampaignConfig) -> None:
        # The process is the worker's own: its thread count is the campaign's.
        torch.set_num_threads(config.threads)
        self.config = config
        self.error: BaseException | None = None
        try:
            self.workload = prepare(config)
            # The worker probed the models again while building them: those
            # evaluations are its own, counted with the first seed it fuzzes.
            probe = self.workload.probe
            self.setup_evaluations = probe.queries if probe is not None else 0
            self.setup = search_setup(config, self.workload)
            self.fingerprints = self.workload.pair.fingerprints()
        except Exception as exc:  # raised again, with its message, by fuzz()
            self.error = exc

    def fuzz(self, index: int) -> tuple[dict[str, str], WireOutcome]:
        """``(model fingerprints, outcome as plain data)`` of seed ``index``."""
        if self.error is not None:
            if isinstance(self.error, DiverfuzzError):
                raise self.error
            raise DiverfuzzError(f"a worker could not build the models from the config: {self.error!r}")
        outcome = fuzz_seed(self.config, self.workload, int(index), *self.setup)
        if self.setup_evaluations:
            counters = dict(outcome.counters)
            counters["pair_evaluations"] = counters.get("pair_evaluations", 0) + self.setup_evaluations
            counters["worker_setup_evaluations"] = self.setup_evaluations
            outcome = replace(outcome, counters=counters)
            self.setup_evaluations = 0
        return self.fingerprints, to_wire(outcome)


def check_fingerprints(expected: dict[str, str], got: dict[str, str]) -> None:
    """Raise unless a worker's models are the driver's (factories must be deterministic)."""
    if got != expected:
        raise DiverfuzzError(
            f"a worker built other models than the driver (fingerprints {got} vs {expected}): "
            "the --model/--candidate factories must return the same weights on every call "
            "(seed their random initialisation, load fixed weights)"
        )
