"""Hypothesis strategies per kind, signal validity metrics and the doc table."""

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from diverfuzz.relations import (
    REGISTRY,
    Chain,
    RelationError,
    apply_batch,
    evaluate_batch,
    infer_kind,
    metrics,
    names_for_kind,
    ssim,
)
from diverfuzz.relations.doc import render
from diverfuzz.relations.registry import BASELINE_OPERATORS
from diverfuzz.relations.strategies import chains, inputs, names_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "relations.md"


@pytest.mark.parametrize("kind", ["image", "spectral", "signal"])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_chains_of_a_kind_apply_to_inputs_of_that_kind(kind, data):
    x = data.draw(inputs(kind))
    assert infer_kind(x.shape) == kind and x.dtype == np.float32
    assert 0.0 <= x.min() <= x.max() <= 1.0
    cs = data.draw(st.lists(chains(kind=kind, max_length=3, channels=x.shape[0]), max_size=3))
    for c in cs:
        assert len(c) <= 3
        assert all(kind in REGISTRY[s.relation].kinds for s in c.steps)
    batch = apply_batch(cs, x)
    for row, c in zip(batch, cs):
        y = c.apply(x)
        assert np.array_equal(row, y) and y.shape == x.shape and y.dtype == np.float32
        assert 0.0 <= y.min() and y.max() <= 1.0
    valid, found = evaluate_batch("ssim>=0.0 and linf<=1", x, batch)
    assert valid.shape == (len(cs),) and len(found) == len(cs)


def test_chain_strategy_options():
    assert "channel_shift" not in names_for("image")
    assert "channel_shift" in names_for("image", channels=3)
    assert [n for n in names_for("signal") if n not in BASELINE_OPERATORS] == list(names_for_kind("signal"))
    assert [n for n in names_for("image", channels=3) if n not in BASELINE_OPERATORS] == list(
        names_for_kind("image", channels=3)
    )
    assert BASELINE_OPERATORS <= set(names_for("image"))  # the strategies still exercise them
    assert names_for("image", ["zoom", "jpeg"]) == ["zoom", "jpeg"]
    with pytest.raises(RelationError, match="jitter.*kind='image'"):
        names_for("image", ["jitter"])
    with pytest.raises(RelationError, match="kind='video'"):
        chains(kind="video")
    c = find(chains(max_size=2), lambda c: len(c) == 2)  # old keyword
    assert len(c) == 2
    c = find(chains(3), lambda c: len(c) == 3)  # old positional max_size
    assert len(c) == 3
    c = find(chains(kind="signal", names=["jitter", "scaling"], min_length=1), lambda c: True)
    assert c.steps[0].relation in ("jitter", "scaling")


def test_failing_chain_shrinks_to_one_minimal_step():
    c = find(chains(kind="image", max_length=4), lambda c: any(s.relation == "jpeg" for s in c.steps))
    assert c == Chain.from_list([{"relation": "jpeg", "params": {"quality": 5}}])


def test_signal_metrics():
    rng = np.random.default_rng(0)
    x = rng.random((6, 64)).astype(np.float32)
    m = metrics(x, x)
    assert m["ssim"] == 1.0 and m["psnr"] == math.inf and m["l0"] == 0.0
    y = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
    assert 0.0 < ssim(x, y) < 1.0
    assert -1.0 <= ssim(x[:, :4], y[:, :4]) < 1.0  # window shrinks for short signals
    with pytest.raises(RelationError, match="signals of at least 3 samples"):
        ssim(x[:, :2], y[:, :2])
    valid, found = evaluate_batch("linf<=0.5", x, np.stack([x, y]))
    assert valid.tolist() == [True, True] and found[0]["l2"] == 0.0
    with pytest.raises(RelationError, match="mutants.shape"):
        evaluate_batch("none", x, x)


def test_doc_table_is_generated_from_registry():
    text = render()
    for name, rel in REGISTRY.items():
        assert f"| `{name}` |" in text
        for pname in rel.params:
            assert f"`{pname}`" in text
    assert DOC.read_text() == text, "regenerate with: python -m diverfuzz.relations.doc > docs/relations.md"
