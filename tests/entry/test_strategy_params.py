"""``--strategy-params``: strategy field overrides from the command line, config files and check()."""

from __future__ import annotations

import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig, parse_strategy_params


def test_values_are_read_as_numbers_booleans_or_text():
    assert parse_strategy_params("bisect=16, screen=4,objective=log,adaptive=false,scale=0.5") == {
        "bisect": 16, "screen": 4, "objective": "log", "adaptive": False, "scale": 0.5,
    }
    assert parse_strategy_params(None) == {} and parse_strategy_params("") == {}


@pytest.mark.parametrize("text, message", [
    ("bisect", "expected NAME=VALUE"),
    ("bisect=", "expected NAME=VALUE"),
    ("bisect=1,bisect=2", "'bisect' is given twice"),
])
def test_malformed_items_are_one_line_errors_when_the_config_is_built(text, message):
    with pytest.raises(DiverfuzzError, match=message) as info:
        CampaignConfig(strategy_params=text)
    assert "\n" not in str(info.value)


def test_the_campaign_uses_them_and_refuses_unknown_fields_before_any_seed(tmp_path, make_tiny_config):
    from diverfuzz.fuzzer.campaign.seed import search_setup
    from diverfuzz.fuzzer.campaign.workload import prepare

    build = make_tiny_config(2, 0)
    config = build(strategy_params="bisect=8,screen=1")
    strategy, _, _ = search_setup(config, prepare(config))
    assert (strategy.bisect, strategy.screen) == (8, 1)
    bad = build(strategy_params="bisekt=8")
    with pytest.raises(DiverfuzzError, match="no parameter.*bisekt"):
        search_setup(bad, prepare(bad))


@pytest.mark.parametrize("params, message", [
    ({"bisect": "abc"}, "bisect='abc' must be an integer"),
    ({"scale": "x"}, "scale='x' must be a number"),
    ({"adaptive": 1}, "adaptive=1 must be true or false"),
    ({"bisect": True}, "bisect=True must be an integer"),
])
def test_a_value_of_the_wrong_type_is_a_one_line_error(params, message):
    from diverfuzz.fuzzer.search import get_strategy

    with pytest.raises(DiverfuzzError, match=message):
        get_strategy("genetic", params=params)


def test_an_integer_is_accepted_for_a_number_field():
    from diverfuzz.fuzzer.search import get_strategy

    assert get_strategy("genetic", params={"scale": 1}).scale == 1.0


def test_check_takes_them_and_refuses_a_bad_one(tmp_path):
    import numpy as np
    from torch import nn

    from diverfuzz.entry.check import check

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    seeds = np.random.default_rng(0).uniform(0, 1, (2, 1, 8, 8)).astype(np.float32)
    with pytest.raises(DiverfuzzError, match="expected NAME=VALUE"):
        check(model, model, seeds, strategy_params="bisect", report_dir=tmp_path / "a")
    result = check(model, model, seeds, budget=5, strategy_params="bisect=4", report_dir=tmp_path / "b")
    assert result.report["config"]["strategy_params"] == "bisect=4"
