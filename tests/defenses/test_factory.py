"""defended_reference / defense_config: the API the CLI's --defense calls."""

from __future__ import annotations

import time

import pytest
import torch

from diverfuzz import defenses
from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.defenses import (
    DEFENSES,
    PixelDPModel,
    defended_reference,
    defense_config,
)
from diverfuzz.models.examples.digits import load_digits_data


def test_defense_config_is_a_fresh_json_ready_dict():
    import json

    for name in DEFENSES:
        cfg = defense_config(name)
        assert cfg["defense"] == name
        json.dumps(cfg)
        cfg["mutated"] = True
        assert "mutated" not in defense_config(name)
    assert defense_config("distillation")["temperature"] == 100.0
    assert defense_config("pixeldp")["epsilon"] == 1.0


def test_unknown_defense_raises():
    with pytest.raises(DiverfuzzError, match="--defense='madry' is not one of pixeldp, distillation"):
        defense_config("madry")


@pytest.mark.slow
@pytest.mark.parametrize("name", DEFENSES)
def test_defended_reference_trains_once_then_loads(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DIVERFUZZ_CACHE", str(tmp_path))
    monkeypatch.setitem(defenses._CONFIGS[name], "epochs", 1)
    data = load_digits_data()
    first = defended_reference(name, data, seed=0)
    assert list(tmp_path.glob("*.safetensors"))
    t0 = time.perf_counter()
    second = defended_reference(name, data, seed=0)
    assert time.perf_counter() - t0 < 5.0
    x = torch.from_numpy(data.x_test[:16])
    with torch.no_grad():
        assert torch.equal(first(x), second(x))
    assert not second.training
    assert isinstance(second, PixelDPModel) == (name == "pixeldp")
