"""The campaign side: configuration, workload, the driver, backends, storage, replay.

- :mod:`diverfuzz.fuzzer.campaign.config`: the one config schema (CLI, config files, ``check()``).
- :mod:`diverfuzz.fuzzer.campaign.workload`: models and seed data built from a config.
- :mod:`diverfuzz.fuzzer.campaign.seed`: fuzzing one seed (search, shrink, triage).
- :mod:`diverfuzz.fuzzer.campaign.driver`: :func:`run_campaign`, the corpus and the reports.
- :mod:`diverfuzz.fuzzer.campaign.backends`: where seeds run (local, process pool, Ray).
- :mod:`diverfuzz.fuzzer.campaign.storage`: the SQLite campaign corpus and the JSON regression corpus.
- :mod:`diverfuzz.fuzzer.campaign.replay`: re-executing stored divergences.

The package itself imports nothing, so reading a config never loads torch;
``run_campaign`` and ``CampaignConfig`` are re-exported lazily.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy re-export: the driver imports torch, a config file check must not.
    if name in ("run_campaign", "CampaignResult", "REPORT_JSON", "REPORT_HTML"):
        from diverfuzz.fuzzer.campaign import driver

        return getattr(driver, name)
    if name == "CampaignConfig":
        from diverfuzz.fuzzer.campaign import config

        return config.CampaignConfig
    raise AttributeError(f"module 'diverfuzz.fuzzer.campaign' has no attribute {name!r}")
