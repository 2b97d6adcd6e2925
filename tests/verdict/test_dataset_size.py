"""The report states the dataset size the data has (it said 541 where the digits test split has 540)."""

from __future__ import annotations

from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.workload import prepare
from diverfuzz.models.examples import EXAMPLES


def test_bundled_data_size_comes_from_the_data() -> None:
    workload = prepare(CampaignConfig(precision="fp16"))
    assert len(workload.x) == 540
    assert workload.description["data"].endswith(", 540 inputs")
    # No hand-written sizes that can drift from the data.
    assert "541" not in EXAMPLES["digits"].data_description
    assert "360" not in EXAMPLES["spectral"].data_description + EXAMPLES["signal"].data_description
