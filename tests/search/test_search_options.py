"""The options this work adds are accepted where configs are validated."""

from __future__ import annotations

import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.search import get_strategy


def test_mode_natural_and_example_mnist_are_accepted():
    config = CampaignConfig(mode="natural", example="mnist")
    assert (config.mode, config.example) == ("natural", "mnist")


def test_unknown_strategy_parameter_is_a_one_line_error():
    with pytest.raises(DiverfuzzError, match="no parameter.*bogus"):
        get_strategy("dflare", params={"bogus": 1})
