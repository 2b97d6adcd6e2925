"""ParamSpec, Relation, registry and immutability."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diverfuzz import relations
from diverfuzz.relations import (
    REGISTRY,
    ParamSpec,
    Relation,
    RelationError,
    get_relation,
)


def test_registry_is_immutable_and_ordered():
    # The original eleven keep their positions; later relations are appended.
    assert list(REGISTRY)[:11] == [
        "brightness", "contrast", "gamma", "gaussian_blur", "gaussian_noise", "salt_pepper",
        "rotation", "translation", "zoom", "shear", "occlusion",
    ]
    assert len(REGISTRY) >= 25
    with pytest.raises(TypeError):
        REGISTRY["x"] = REGISTRY["zoom"]  # type: ignore[index]
    for name, rel in REGISTRY.items():
        assert rel.name == name
        assert rel.kinds <= {"image", "spectral", "signal"} and rel.kinds
        with pytest.raises(TypeError):
            rel.params["new"] = ParamSpec(0, 1, 0)  # type: ignore[index]
        with pytest.raises(dataclasses.FrozenInstanceError):
            rel.name = "other"  # type: ignore[misc]


def test_all_exports_exist():
    for name in relations.__all__:
        assert hasattr(relations, name)


def test_param_ranges_match_documentation():
    expected = {
        "brightness": {"delta": (-0.3, 0.3, 0.0)},
        "contrast": {"factor": (0.5, 1.5, 1.0)},
        "gamma": {"gamma": (0.5, 2.0, 1.0)},
        "gaussian_noise": {"sigma": (0.0, 0.2, 0.0), "seed": (0, 2**31 - 1, 0)},
        "salt_pepper": {"amount": (0.0, 0.2, 0.0), "seed": (0, 2**31 - 1, 0)},
        "gaussian_blur": {"sigma": (0.0, 2.0, 0.0)},
        "rotation": {"angle": (-30.0, 30.0, 0.0)},
        "translation": {"dx": (-0.2, 0.2, 0.0), "dy": (-0.2, 0.2, 0.0)},
        "zoom": {"scale": (0.8, 1.25, 1.0)},
        "shear": {"shear": (-0.3, 0.3, 0.0)},
        "occlusion": {"size": (0, 0.5, 0), "cx": (0, 1, 0.5), "cy": (0, 1, 0.5), "value": (0, 1, 0)},
    }
    for name, params in expected.items():
        rel = get_relation(name)
        assert {k: (s.low, s.high, s.identity) for k, s in rel.params.items()} == params
    assert get_relation("gaussian_noise").params["seed"].integer


@settings(max_examples=50, deadline=None)
@given(u=st.floats(0, 1))
def test_paramspec_normalize_inverts_denormalize(u):
    spec = ParamSpec(-0.3, 0.3, 0.0)
    v = spec.denormalize(u)
    assert isinstance(v, float) and -0.3 <= v <= 0.3
    assert spec.normalize(v) == pytest.approx(u, abs=1e-12)
    ispec = ParamSpec(0, 2**31 - 1, 0, integer=True)
    iv = ispec.denormalize(u)
    assert type(iv) is int and 0 <= iv <= 2**31 - 1
    assert ispec.denormalize(ispec.normalize(iv)) == iv


def test_paramspec_validation():
    with pytest.raises(RelationError, match="low <= identity <= high"):
        ParamSpec(0.0, 1.0, 2.0)
    with pytest.raises(RelationError, match="integer"):
        ParamSpec(0, 1.5, 0, integer=True)
    with pytest.raises(RelationError, match=r"u=1.5"):
        ParamSpec(0.0, 1.0, 0.0).denormalize(1.5)


def test_from_unit_to_unit_round_trip():
    rel = get_relation("translation")
    p = rel.from_unit([0.0, 1.0])
    assert p == {"dx": -0.2, "dy": 0.2}
    assert rel.to_unit(p) == [0.0, 1.0]
    assert rel.from_unit([0.5, 0.5]) == rel.identity()
    with pytest.raises(RelationError, match="len"):
        rel.from_unit([0.5])


def test_identity_values_are_plain_python_numbers():
    for rel in REGISTRY.values():
        ident = rel.identity()
        json.dumps(ident)
        for k, v in ident.items():
            assert type(v) is (int if rel.params[k].integer else float)


def test_custom_relation_rejects_bad_kinds():
    with pytest.raises(RelationError, match="kinds"):
        Relation("x", frozenset({"video"}), {}, lambda x: x)


def test_numpy_scalar_params_become_python_numbers():
    x = np.zeros((1, 8, 8), np.float32)
    y = get_relation("gaussian_noise").apply(x, sigma=np.float32(0.1), seed=np.int64(3))
    assert y.shape == x.shape
