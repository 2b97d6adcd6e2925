"""Item 4 of issue 14: batch dependence is not mistaken for non-determinism."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.check import check
from diverfuzz.fuzzer.campaign.workload import Workload, select_seeds
from diverfuzz.models.pair import ModelPair


def _mlp(seeded_mlp) -> torch.nn.Module:
    return seeded_mlp(outputs=4, scale=0.5)


def _dynamic(net: torch.nn.Module) -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice
        return torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)


def _data(n: int = 100) -> np.ndarray:
    return np.random.default_rng(3).random((n, 1, 8, 8), dtype=np.float32)


def test_quantize_dynamic_candidate_is_accepted_and_run_one_input_at_a_time(seeded_mlp) -> None:
    reference = _mlp(seeded_mlp)
    x = _data()
    workload = Workload(ModelPair(reference, _dynamic(reference)), x, None, {})
    selection = select_seeds(workload, 10)  # refused as "not deterministic" before the fix
    assert selection.batch_dependent == ("candidate",)
    assert workload.pair.batch_dependent == ("candidate",)
    assert any("one input at a time" in w and "slower" in w for w in selection.warnings)
    # Every row is now what the model gives that input alone: batching cannot change a result.
    # (The float32 reference may differ in the last bits between batch sizes, as
    # kernels block by size; it does not read other rows, so it stays batched.)
    _, cand = workload.pair.logits(x[:10])
    for i in range(10):
        assert np.array_equal(workload.pair.logits(x[i : i + 1])[1][0], cand[i])


def test_the_reference_alone_is_not_batch_dependent(seeded_mlp) -> None:
    reference = _mlp(seeded_mlp)
    selection = select_seeds(Workload(ModelPair(reference, reference), _data(), None, {}), 5)
    assert selection.batch_dependent == ()


def test_true_non_determinism_is_still_refused(seeded_mlp) -> None:
    gen = torch.Generator().manual_seed(0)

    def noisy(x: torch.Tensor) -> torch.Tensor:
        return torch.randn(len(x), 4, generator=gen)

    with pytest.raises(DiverfuzzError, match="candidate model is not deterministic"):
        select_seeds(Workload(ModelPair(_mlp(seeded_mlp), noisy), _data(), None, {}), 5)


@pytest.mark.slow
def test_check_records_batch_dependence_and_divergences_replay_exactly(tmp_path: Path, seeded_mlp) -> None:
    reference = _mlp(seeded_mlp)
    candidate = _dynamic(reference)
    x = _data(100)
    result = check(reference, candidate, x, budget=60, validity="linf<=0.3", report_dir=tmp_path / "r")
    summary = result.report["summary"]
    assert summary["batch_dependent"] == ["candidate"]
    assert any("one input at a time" in w for w in summary["warnings"])
    from diverfuzz.relations import Chain

    assert result.divergences, "the int8 candidate must diverge for this test to mean anything"
    for d in result.divergences:
        mutant = Chain.from_list(d["chain"]).apply(x[d["seed_index"]])
        with torch.no_grad():
            alone = torch.softmax(candidate(torch.from_numpy(mutant[None])).double(), 1)[0].numpy()
        np.testing.assert_allclose(alone, d["candidate_probs"], rtol=0, atol=1e-12)
