"""The real-pair benchmark's statistics, leave-one-pair-out choice and goals, on fabricated records."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stats():
    return _load("stats")


@pytest.fixture(scope="module")
def suite():
    before = list(sys.path)
    try:
        return _load("search_suite")
    finally:
        sys.path[:] = before  # the script puts the repository and bench/ first when run


def _records(qs, seeds=1):
    """One record per q; the i-th on seed i % seeds, RNG seed i // seeds."""
    return [{"rng": i // seeds, "seed": i % seeds, "q": q, "used": 1000 if q is None else q, "severity": 3,
             "rotation_deg": 0.0, "shift_px": 1.0, "psnr": 20.0, "pixel_psnr": 25.0, "reference_margin": 0.1,
             "candidate_margin": 0.1} if q is not None else
            {"rng": i // seeds, "seed": i % seeds, "q": None, "used": 1000} for i, q in enumerate(qs)]


def test_wilson_holm_and_a12(stats):
    lo, hi = stats.wilson(10, 10)
    assert hi == 1.0 and 0.65 < lo < 0.75
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.a12([1, 2], [3, 4]) == 1.0 and stats.a12([3], [3]) == 0.5


def test_bootstrap_resamples_seeds_not_searches(stats):
    # 10 seeds x 10 RNG seeds: five seeds always flip, five never. Over 100 searches a Wilson interval is
    # narrow; resampling the 10 seeds (the independent units) gives a much wider one.
    records = _records([5 if i % 10 < 5 else None for i in range(100)], seeds=10)
    lo, hi = stats.bootstrap_over_seeds(records, 100)
    wlo, whi = stats.wilson(50, 100)
    assert lo < 0.35 and hi > 0.65 and (hi - lo) > 1.5 * (whi - wlo)
    assert stats.bootstrap_over_seeds(_records([5] * 20, seeds=10), 100) == (1.0, 1.0)


def test_paired_test_pairs_by_seed(stats):
    fast = _records([10 + s for s in range(20)], seeds=20)
    slow = _records([500 + s for s in range(20)], seeds=20)
    assert stats.paired_by_seed(fast, slow, 1000) < 1e-4
    assert stats.paired_by_seed(fast, fast, 1000) == 1.0


def _cell(suite, pair, key, strategy, records, level="natural"):
    return {"pair": pair, "level": level, "rule": "natural", "strategy": strategy, "params": {}, "key": key,
            "seeds": sorted({r["seed"] for r in records}), "eligible": 50, "shape": [1, 28, 28],
            "records": records, "seconds": 1.0}


def test_lopo_never_uses_the_held_out_pair_and_goals_are_computed(suite):
    pairs = ["lenet5:int8-static", "lenet1:int8-static", "har:int8-static"]
    first, second = (suite.config_key("dflare", p) for p in suite.CONFIGS["dflare"][:2])
    good, bad = _records([10] * 20, seeds=20), _records([None] * 20, seeds=20)
    # dflare's second configuration wins on lenet5 only; its published one wins on the two others.
    cells = {}
    for pair in pairs:
        won = pair == "lenet5:int8-static"
        cells[f"{pair}|natural|{first}"] = _cell(suite, pair, first, "dflare", bad if won else good)
        cells[f"{pair}|natural|{second}"] = _cell(suite, pair, second, "dflare", good if won else bad)
        cells[f"{pair}|natural|genetic"] = _cell(suite, pair, "genetic", "genetic", _records([50] * 20, seeds=20))
    assert suite.lopo_choice(cells, "dflare", "lenet5:int8-static") == first
    assert suite.lopo_choice(cells, "dflare", "lenet1:int8-static") == first
    analysis = suite.analyse(cells)
    row = next(r for r in analysis["rows"] if r["pair"] == "lenet5:int8-static" and r["variant"] == "dflare+tuned"
               and r["budget"] == 100)
    assert row["success"] == 0.0  # lenet5's tuned number comes from the configuration chosen on the others
    goal = analysis["goals"]["lenet5:int8-static"]
    assert goal["success_at_least_each_tuned"] and goal["a12_06_significant_vs_each_tuned"]
    # On lenet1 the tuned DFlare finds its divergences faster (q = 10 against genetic's 50): the same success at
    # 1,000 queries, so no baseline has a higher success, but A12 favours DFlare and the goal fails there.
    lenet1 = analysis["goals"]["lenet1:int8-static"]
    assert lenet1["success_at_least_each_tuned"] and lenet1["baselines_winning"] == []
    assert not lenet1["a12_06_significant_vs_each_tuned"]
    text = suite.markdown({"meta": {"command": "x", "commit": "abc1234", "dirty": False, "jobs": 2, "seconds": 1.0,
                                    "seeds": 20, "rng_seeds": 1, "selection_seed": 7, "skipped": {}},
                           "cells": cells}, analysis)
    assert "## lenet5:int8-static, natural" in text and "commit abc1234" in text
    assert "| lenet1:int8-static | yes | no |" in text


def test_cells_run_in_phases(suite):
    class Args:
        pairs = ["lenet5:int8-static", "effnet-lite0:onnx-int8"]
        levels = list(suite.LEVELS)
        strategies = list(suite.CONFIGS)

    cells = suite.cells_to_run(Args)
    phase_of = [0 if (lv == "natural" and params == suite.CONFIGS[s][0]) else 1 if lv == "natural" else 2
                for _, lv, s, params in cells]
    assert phase_of == sorted(phase_of) and phase_of[-1] == 2
    assert not any(p == "effnet-lite0:onnx-int8" and lv == "strict" for p, lv, _, _ in cells)
    assert all(params == suite.CONFIGS[s][0] for p, _, s, params in cells if p == "effnet-lite0:onnx-int8")


def test_a_real_pair_cell_runs_and_draws_its_seeds_reproducibly(suite):
    """One cell of the suite on the MLPerf Tiny ResNet-8 files (skipped, with the reason, without ../shared)."""
    if suite.available("resnet8:tflite-int8") is not None:
        pytest.skip(f"resnet8:tflite-int8: {suite.available('resnet8:tflite-int8')} (real pairs live in "
                    "../shared/realpairs beside the repository, CI only)")
    sizes = {"seeds": 3, "rng_seeds": 1, "budget": 30, "selection_seed": 5}
    cell = suite.run_cell("resnet8:tflite-int8", "natural", "genetic", {}, sizes)
    assert len(cell["records"]) == 3 and cell["rule"] == "natural" and cell["shape"] == [3, 32, 32]
    assert cell["seeds"] == sorted(cell["seeds"]) and len(set(cell["seeds"])) == 3
    assert cell["eligible"] > 500  # of the 1,000 CIFAR-10 images, those both files label right
    assert cell["seeds"] != list(range(3))  # drawn at random, not the first eligible ones
    suite._workload.cache_clear()
    again = suite.run_cell("resnet8:tflite-int8", "natural", "genetic", {}, sizes)
    assert again["seeds"] == cell["seeds"] and [r["q"] for r in again["records"]] == [r["q"] for r in cell["records"]]


class _Plan:
    pairs = ("lenet5:int8-static", "effnet-lite0:onnx-int8", "har:int8-static")
    strategies = ("genetic", "random", "diffchaser", "dflare")


def test_decisive_is_opt_in_and_plans_published_and_tuning_configurations(suite):
    default = type("Args", (_Plan,), {"levels": list(suite.LEVELS)})
    assert "decisive" not in suite.LEVELS and "decisive" in suite.ALL_LEVELS
    assert not any(lv == "decisive" for _, lv, _, _ in suite.cells_to_run(default))
    both = type("Args", (_Plan,), {"levels": ["natural", "decisive"]})
    cells = suite.cells_to_run(both)
    decisive = [(p, s, params) for p, lv, s, params in cells if lv == "decisive"]
    natural = [(p, s, params) for p, lv, s, params in cells if lv == "natural" and p != "effnet-lite0:onnx-int8"]
    assert decisive and sorted(map(repr, decisive)) == sorted(map(repr, natural))  # published and tuning, as there
    assert any(params != suite.CONFIGS[s][0] for _, s, params in decisive)
    assert cells.index(next(c for c in cells if c[1] == "decisive")) > max(
        i for i, c in enumerate(cells) if c[1] == "natural")  # after the standard cells
    only = type("Args", (_Plan,), {"levels": ["decisive"]})
    assert {lv for _, lv, _, _ in suite.cells_to_run(only)} == {"decisive"}
    assert suite.level_rule("decisive", 5) == "natural" and suite.level_min_margin("decisive") == 0.05
    assert suite.level_min_margin("natural") == 0.0 and suite.level_min_margin("strict") == 0.0


def test_a_decisive_cell_passes_the_margin_floor_to_the_evaluator(suite, monkeypatch):
    """The bundled digits pair, tiny budget: the evaluator gets min_margin 0.05 and records nothing below it."""
    from diverfuzz.fuzzer.search import evaluate

    seen = []

    class Spy(evaluate.SeedEvaluator):
        def __post_init__(self):
            seen.append(self.min_margin)
            super().__post_init__()

    monkeypatch.setattr(evaluate, "SeedEvaluator", Spy)
    sizes = {"seeds": 10, "rng_seeds": 1, "budget": 200, "selection_seed": 5}
    cell = suite.run_cell("digits:int8-static", "decisive", "genetic", {}, sizes)
    assert cell["min_margin"] == 0.05 and cell["rule"] == "natural" and cell["level"] == "decisive"
    assert seen == [0.05] * len(cell["records"]) == [0.05] * 10
    assert all(r["reference_margin"] >= 0.05 for r in cell["records"] if r["q"] is not None)


def _meta(**extra):
    return {"command": "x", "commit": "abc1234", "dirty": False, "jobs": 2, "seconds": 1.0, "seeds": 20,
            "rng_seeds": 1, "selection_seed": 7, "skipped": {}, **extra}


def test_decisive_goals_use_the_natural_choice_and_render_only_when_run(suite):
    pairs = ["lenet5:int8-static", "lenet1:int8-static", "har:int8-static"]
    first, second = (suite.config_key("dflare", p) for p in suite.CONFIGS["dflare"][:2])
    good, bad = _records([10] * 20, seeds=20), _records([None] * 20, seeds=20)
    cells = {}
    for pair in pairs:
        # natural: the published DFlare wins everywhere, so it is every pair's tuned choice. At decisive the second
        # configuration would win everywhere; it must choose nothing.
        cells[f"{pair}|natural|{first}"] = _cell(suite, pair, first, "dflare", good)
        cells[f"{pair}|natural|{second}"] = _cell(suite, pair, second, "dflare", bad)
        cells[f"{pair}|natural|genetic"] = _cell(suite, pair, "genetic", "genetic", _records([10] * 20, seeds=20))
    natural_only = dict(cells)
    for pair in pairs:
        cells[f"{pair}|decisive|{first}"] = _cell(suite, pair, first, "dflare", bad, level="decisive")
        cells[f"{pair}|decisive|{second}"] = _cell(suite, pair, second, "dflare", good, level="decisive")
        cells[f"{pair}|decisive|genetic"] = _cell(suite, pair, "genetic", "genetic", _records([50] * 20, seeds=20),
                                                  level="decisive")
    before = suite.analyse(natural_only)
    analysis = suite.analyse(cells)
    assert analysis["goals"] == before["goals"] == analysis["goals_by_level"]["natural"]  # natural goals unchanged
    assert "decisive" not in before["goals_by_level"]
    decisive = analysis["goals_by_level"]["decisive"]
    assert set(decisive) == set(pairs)
    row = next(r for r in analysis["rows"] if r["pair"] == "lenet5:int8-static" and r["level"] == "decisive"
               and r["variant"] == "dflare+tuned" and r["budget"] == 1000)
    assert row["success"] == 0.0  # the natural choice (published), not the decisive winner
    # decisive: genetic finds every one at q = 50, the tuned (published) DFlare none: genetic meets both goals.
    assert all(g["success_at_least_each_tuned"] and g["a12_06_significant_vs_each_tuned"] for g in decisive.values())
    # natural: the same success, same cost: A12 0.5, the A12 goal is not met.
    assert not any(g["a12_06_significant_vs_each_tuned"] for g in analysis["goals"].values())
    title = "## Goals on decisive divergences (`natural` rule, reference margin >= 0.05)"
    text = suite.markdown({"meta": _meta(levels=["natural", "decisive"]), "cells": cells}, analysis)
    assert title in text and "not instead of them" in text
    section = text[text.index(title):]
    assert "| lenet5:int8-static | yes | yes |" in section
    assert "| lenet5:int8-static | yes | no |" in text[:text.index(title)]
    assert "## lenet5:int8-static, decisive (`natural`, reference margin >= 0.05)" in text
    plain = suite.markdown({"meta": _meta(levels=["natural"]), "cells": natural_only}, before)
    assert title not in plain and "decisive" not in plain.split("## Protocol")[0]


def test_decisive_cells_are_missing_only_when_asked_for(suite):
    cells = {f"{p}|{lv}|{suite.config_key(s, params)}": {"level": lv}
             for p, lv, s, params in suite.cells_to_run(type("Args", (_Plan,), {
                 "pairs": list(suite.PAIRS), "levels": list(suite.LEVELS), "strategies": list(suite.CONFIGS)}))}
    assert suite._not_run({"meta": _meta(), "cells": cells}) == {}
    missing = suite._not_run({"meta": _meta(levels=["natural", "decisive"]), "cells": cells})
    assert missing and all(where.endswith("[decisive]") for where in missing)
    assert "lenet5:int8-static [decisive]" in missing and "effnet-lite0:onnx-int8 [decisive]" not in missing


def test_choices_from_an_earlier_run_replace_the_lopo_choice(suite):
    # Decisive cells only: without natural cells the leave-one-pair-out choice falls back to the published
    # configuration; an earlier run's recorded choice names the tuning configuration instead.
    first, second = (suite.config_key("dflare", p) for p in suite.CONFIGS["dflare"][:2])
    pair = "resnet8:tflite-int8"
    cells = {f"{pair}|decisive|{key}": _cell(suite, pair, key, "dflare", _records(qs, seeds=20), level="decisive")
             for key, qs in ((first, [None] * 20), (second, [10] * 20))}
    cells[f"{pair}|decisive|genetic"] = _cell(suite, pair, "genetic", "genetic", _records([50] * 20, seeds=20),
                                             level="decisive")
    tuned = {r["budget"]: r["success"] for r in suite.analyse(cells)["rows"] if r["variant"] == "dflare+tuned"}
    assert tuned[1000] == 0.0  # the published configuration, chosen by default
    analysis = suite.analyse(cells, {f"{pair}|dflare": second})
    assert analysis["choices"][f"{pair}|dflare"] == second
    tuned = {r["budget"]: r["success"] for r in analysis["rows"] if r["variant"] == "dflare+tuned"}
    assert tuned[1000] == 1.0
