"""Bad models and hostile files give clear errors and run nothing they should not."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError, ModelError
from diverfuzz.fuzzer.campaign.workload import Workload, select_seeds
from diverfuzz.models.loading import load_npz
from diverfuzz.models.pair import ModelPair


def _const(x):
    return torch.zeros(len(x), 3)


def test_nan_logits_are_refused_with_the_row():
    def nan_model(x):
        out = torch.zeros(len(x), 3)
        out[2, 1] = float("nan")
        return out

    with pytest.raises(ModelError, match=r"candidate model returned NaN or inf logits \(first at batch row 2"):
        ModelPair(_const, nan_model).logits(np.zeros((4, 1, 2, 2), np.float32))


def test_non_deterministic_model_is_refused():
    gen = torch.Generator().manual_seed(0)

    def noisy(x):
        return torch.randn(len(x), 3, generator=gen)

    x = np.random.default_rng(0).random((10, 1, 4, 4), dtype=np.float32)
    workload = Workload(ModelPair(_const, noisy), x, None, {})
    with pytest.raises(DiverfuzzError, match="candidate model is not deterministic"):
        select_seeds(workload, 5)


def test_dropout_model_is_made_deterministic_by_eval_mode():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3)).train()
    x = np.random.default_rng(0).random((10, 1, 4, 4), dtype=np.float32)
    selection = select_seeds(Workload(ModelPair(net, net), x, None, {}), 5)
    assert len(selection.indices) == 5


class _Exploit:
    def __reduce__(self):
        return (pytest.fail, ("unpickling ran code from a data file",))


def test_npz_with_pickled_objects_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    x = np.empty(2, dtype=object)
    x[0], x[1] = _Exploit(), _Exploit()
    np.savez(path, x=x)
    with pytest.raises(DiverfuzzError, match="not a readable .npz"):
        load_npz(path)


def test_pickle_file_renamed_npz_is_refused(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(DiverfuzzError, match="pickled Python data, which diverfuzz never loads"):
        load_npz(path)


def test_no_module_calls_torch_load_without_weights_only():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/**/*.py"):
        if "tests" in path.parts:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(r"torch\.load\(", line) and "weights_only=True" not in line:
                offenders.append(f"{path}: {line.strip()}")
    assert offenders == []
