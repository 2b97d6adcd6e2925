"""The natural distortion model: ranges by severity, chains inside it, the pixel rule after the geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diverfuzz.fuzzer.search.space import DEFAULT_RELATIONS, SearchSpace
from diverfuzz.relations import REGISTRY, Chain, RelationError, Step, Validity, natural
from diverfuzz.relations.natural_ranges import CLASSES, NATURAL_RANGES, SEVERITIES
from diverfuzz.relations.validity import (
    DEFAULT_PIXEL_RULE,
    DEFAULT_SEVERITIES,
    DEFAULT_VALIDITY,
    batch_metrics,
)


def test_every_relation_declares_a_class_and_a_graded_range_with_a_source():
    assert set(NATURAL_RANGES) == set(REGISTRY)
    for name, table in NATURAL_RANGES.items():
        relation = REGISTRY[name]
        assert table.klass in CLASSES, name
        assert table.source.strip(), f"{name}: no source"
        assert table.graded, f"{name}: no graded parameter"
        for param, levels in table.graded.items():
            spec = relation.params[param]
            assert param in table.units, (name, param)
            assert len(levels) == len(SEVERITIES)
            for low, high in levels:
                assert spec.low <= low <= spec.identity <= high <= spec.high, (name, param, levels)
            # Nested: every severity contains the milder ones; severity 5 is larger than severity 1.
            for (lo0, hi0), (lo1, hi1) in zip(levels, levels[1:]):
                assert lo1 <= lo0 and hi0 <= hi1, (name, param)
            assert levels[-1] != levels[0], (name, param)


def test_the_geometric_class_is_what_moves_content():
    for name in ("rotation", "translation", "zoom", "shear", "perspective", "elastic"):
        assert NATURAL_RANGES[name].klass == "geometric", name
    for name in ("brightness", "contrast", "gaussian_blur", "gaussian_noise", "occlusion", "jpeg", "fog"):
        assert NATURAL_RANGES[name].klass == "value", name


def test_natural_relation_narrows_graded_params_and_keeps_the_rest():
    rotation = natural.natural_relation(REGISTRY["rotation"], 5)
    low, high = NATURAL_RANGES["rotation"].graded["angle"][4]
    assert (rotation.params["angle"].low, rotation.params["angle"].high) == (low, high)
    noise = natural.natural_relation(REGISTRY["gaussian_noise"], 1)
    assert noise.params["seed"] == REGISTRY["gaussian_noise"].params["seed"]  # not graded
    assert noise.params["sigma"].high < REGISTRY["gaussian_noise"].params["sigma"].high


def test_step_and_chain_severity():
    angle_at = {s: NATURAL_RANGES["rotation"].graded["angle"][s - 1][1] for s in SEVERITIES}
    assert natural.step_severity(Step("rotation", {"angle": 0.0})) == 0
    assert natural.step_severity(Step("rotation", {"angle": angle_at[1]})) == 1
    assert natural.step_severity(Step("rotation", {"angle": angle_at[3]})) == 3
    beyond = REGISTRY["rotation"].params["angle"].high
    assert beyond > angle_at[5]
    assert natural.step_severity(Step("rotation", {"angle": beyond})) is None
    chain = Chain((Step("rotation", {"angle": angle_at[2]}), Step("rotation", {"angle": angle_at[4]})))
    assert natural.chain_severity(chain) == 4
    assert natural.chain_severity(Chain()) == 0


def test_a_geometric_relation_twice_is_outside_the_model_but_value_relations_may_repeat():
    rot = Step("rotation", {"angle": 1.0})
    assert natural.repeats_geometry(Chain((rot, Step("rotation", {"angle": -1.0}))))
    assert not natural.within(Chain((rot, Step("rotation", {"angle": -1.0}))), 5)
    blur = Step("gaussian_blur", {"sigma": 0.1})
    assert not natural.repeats_geometry(Chain((rot, blur, blur)))
    assert natural.within(Chain((rot, blur, blur)), 5)


def test_geometry_reports_units_and_pixels():
    chain = Chain((Step("translation", {"dx": 0.05, "dy": -0.025}), Step("brightness", {"delta": 0.05})))
    (g,) = natural.geometry(chain, (1, 28, 40))
    assert g["relation"] == "translation"
    assert g["units"] == {"dx": "pixels", "dy": "pixels"}
    assert g["values"]["dx"] == pytest.approx(0.05 * 40) and g["values"]["dy"] == pytest.approx(-0.025 * 28)
    assert natural.geometry(Chain((Step("brightness", {"delta": 0.05}),)), (1, 28, 28)) == []


def test_validity_parses_natural_with_default_and_custom_pixel_rules():
    v = Validity.parse(DEFAULT_VALIDITY)
    assert v.natural and v.severity is None
    assert v.severity_for((1, 28, 28)) == DEFAULT_SEVERITIES["image"]
    assert v.severity_for((6, 100)) == DEFAULT_SEVERITIES["signal"]
    assert Validity.parse("natural:3").severity_for((6, 100)) == 3
    assert v.clauses == Validity.parse(DEFAULT_PIXEL_RULE).clauses
    custom = Validity.parse("natural:3 and ssim>=0.9")
    assert custom.severity == 3 and custom.clauses == (("ssim", ">=", 0.9),)
    assert Validity.parse(str(custom)) == custom
    assert not Validity.parse("ssim>=0.6").natural
    for bad in ("natural:0", "natural:6", "natural:two", "natural and natural:2"):
        with pytest.raises(RelationError, match="natural"):
            Validity.parse(bad)


def _digit() -> np.ndarray:
    x = np.zeros((1, 16, 16), np.float32)
    x[0, 4:12, 7:9] = 1.0  # a vertical bar
    return x


def test_judge_measures_value_changes_against_the_moved_seed():
    seed = _digit()
    shift = Step("translation", {"dx": 1 / 16, "dy": 0.0})
    mild = Step("brightness", {"delta": 0.02})
    chains = [Chain((shift,)), Chain((shift, mild))]
    mutants = np.stack([c.apply(seed) for c in chains])
    valid, metrics, pixel = natural.judge(Validity.parse("natural:5 and psnr>=20"), seed, chains, mutants)
    # A one-pixel shift of a thin bar wrecks pixel metrics against the seed ...
    assert metrics[0]["psnr"] < 20
    # ... but the moved seed is the mutant itself, and the brightness change is mild.
    assert math.isinf(pixel[0]["psnr"])
    assert pixel[1]["psnr"] > 30
    assert valid.tolist() == [True, True]
    # The old rule judged against the seed rejects both.
    old, _, _ = natural.judge(Validity.parse("psnr>=20"), seed, chains, mutants)
    assert old.tolist() == [False, False]


def test_judge_rejects_a_chain_beyond_the_severity_without_looking_at_pixels():
    seed = _digit()
    angle = NATURAL_RANGES["rotation"].graded["angle"][1][1]  # severity 2's bound
    strong = Chain((Step("rotation", {"angle": angle}),))
    mutants = strong.apply(seed)[None]
    valid2, _, _ = natural.judge(Validity.parse("natural:2"), seed, [strong], mutants)
    valid1, _, _ = natural.judge(Validity.parse("natural:1"), seed, [strong], mutants)
    assert valid2.tolist() == [True] and valid1.tolist() == [False]


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_a_natural_space_decodes_every_genome_inside_the_model(severity):
    space = SearchSpace.natural(DEFAULT_RELATIONS, severity)
    names = [r.name for r in space.relations]
    geometric = [n for n in names if NATURAL_RANGES[n].klass == "geometric"]
    assert names[: len(geometric)] == geometric  # geometric relations come first
    rng = np.random.default_rng(0)
    for genome in rng.random((300, space.genome_length)):
        chain = space.decode(genome)
        assert natural.within(chain, severity), chain
    # Corners of the unit cube are the extremes of every range: still inside.
    assert natural.within(space.decode(np.ones(space.genome_length)), severity)
    assert natural.within(space.decode(np.zeros(space.genome_length)), severity)


def test_clamp_pulls_a_baseline_operator_step_into_the_severity():
    space = SearchSpace.natural(DEFAULT_RELATIONS, 1)
    high = REGISTRY["gaussian_blur"].params["sigma"].high
    step = space.clamp(Step("gaussian_blur", {"sigma": high}))
    assert natural.step_severity(step) == 1
    assert SearchSpace.from_names(DEFAULT_RELATIONS).clamp(Step("gaussian_blur", {"sigma": high})).params["sigma"] == high


def test_uniform_genomes_sample_a_graded_parameter_uniformly_over_its_natural_range():
    """Random search under `natural` is uniform over the natural space (the honest baseline)."""
    space = SearchSpace.natural(("rotation",), 5)
    low, high = NATURAL_RANGES["rotation"].graded["angle"][4]
    genomes = np.random.default_rng(1).random((4000, space.genome_length))
    genomes[:, 0] = 1.0  # active
    angles = np.array([space.decode(g).steps[0].params["angle"] for g in genomes])
    assert angles.min() >= low and angles.max() <= high
    hist, _ = np.histogram(angles, bins=5, range=(low, high))
    assert hist.min() > 0.8 * len(angles) / 5


def test_batch_metrics_against_a_moved_seed_are_the_metrics_of_judge():
    seed = _digit()
    chain = Chain((Step("rotation", {"angle": 5.0}), Step("gaussian_noise", {"sigma": 0.01, "seed": 3})))
    mutant = chain.apply(seed)[None]
    _, _, pixel = natural.judge(Validity.parse("natural"), seed, [chain], mutant)
    moved = natural.geometric_steps(chain).apply(seed)
    assert pixel[0] == batch_metrics(moved, mutant)[0]
