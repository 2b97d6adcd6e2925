"""Tests of :func:`diverfuzz.fuzzer.campaign.driver.run_campaign`: interruption, resume, reproducibility."""

from __future__ import annotations

import json

import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.driver import (
    REPORT_HTML,
    REPORT_JSON,
    CampaignResult,
    run_campaign,
)
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus

SEEDS = 8


@pytest.fixture
def tiny_config(make_tiny_config):
    return make_tiny_config(SEEDS, rng_seed=3)


class InterruptAfter:
    """A progress callback that presses Ctrl-C once ``seeds`` seeds are finished."""

    def __init__(self, seeds: int) -> None:
        self.seeds = seeds
        self.calls: list[tuple[int, int, int]] = []

    def __call__(self, done: int, total: int, found: int, queries: int) -> None:
        self.calls.append((done, total, found))
        if done >= self.seeds:
            raise KeyboardInterrupt


def test_progress_reports_every_seed(tmp_path, tiny_config):
    calls = []
    result = run_campaign(tiny_config(), tmp_path, progress=lambda *a: calls.append(a))
    assert isinstance(result, CampaignResult) and not result.interrupted
    assert [c[0] for c in calls] == list(range(SEEDS + 1))
    assert {c[1] for c in calls} == {SEEDS}
    assert calls[-1][2] == len(result.report["divergences"])
    assert (tmp_path / REPORT_JSON).is_file() and (tmp_path / REPORT_HTML).is_file()
    assert json.loads((tmp_path / REPORT_JSON).read_text()) == json.loads(json.dumps(result.report))


def test_interrupt_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_config, divergence_key):
    config = tiny_config()
    stop = InterruptAfter(2)
    first = run_campaign(config, tmp_path / "resumed", progress=stop)
    assert first.interrupted is True
    assert stop.calls[-1][0] == 2
    saved = json.loads((tmp_path / "resumed" / REPORT_JSON).read_text())
    assert saved["summary"]["interrupted"] is True
    assert saved["summary"]["seeds"] == 2
    assert saved["divergences"] == first.report["divergences"]
    with Corpus.in_folder(tmp_path / "resumed") as corpus:
        assert len(corpus.finished_seeds()) == 2
        assert len(list(corpus.divergences())) == len(first.report["divergences"])

    second = run_campaign(config, tmp_path / "resumed", resume=True)
    assert second.interrupted is False
    assert second.report["summary"]["seeds"] == SEEDS
    assert second.report["summary"]["interrupted"] is False
    by_id = {d["id"]: d for d in second.report["divergences"]}
    for d in first.report["divergences"]:
        assert d["id"] in by_id
        assert by_id[d["id"]]["chain"] == d["chain"]
        assert divergence_key(by_id[d["id"]]) == divergence_key(d)

    straight = run_campaign(config, tmp_path / "straight")
    assert straight.report["divergences"], "the tiny pair should diverge on some seeds"
    assert sorted(map(divergence_key, second.report["divergences"])) == sorted(
        map(divergence_key, straight.report["divergences"])
    )
    assert second.report["summary"]["queries"] == straight.report["summary"]["queries"]
    assert second.report["summary"]["seeds_with_divergence"] == straight.report["summary"]["seeds_with_divergence"]


def test_resume_of_a_finished_campaign_changes_nothing(tmp_path, tiny_config, divergence_key):
    config = tiny_config(seeds=4)
    first = run_campaign(config, tmp_path)
    again = run_campaign(config, tmp_path, resume=True)
    assert again.report["summary"]["seeds"] == 4
    assert again.report["summary"]["queries"] == first.report["summary"]["queries"]
    assert [divergence_key(d) for d in again.report["divergences"]] == [
        divergence_key(d) for d in first.report["divergences"]
    ]
    assert [d["id"] for d in again.report["divergences"]] == [d["id"] for d in first.report["divergences"]]


def test_interrupted_run_without_resume_is_refused(tmp_path, tiny_config):
    run_campaign(tiny_config(), tmp_path, progress=InterruptAfter(1))
    with pytest.raises(DiverfuzzError, match="already holds a campaign"):
        run_campaign(tiny_config(), tmp_path)


@pytest.mark.parametrize(
    "change, key",
    [({"budget": 81}, "budget"), ({"rng_seed": 4}, "rng_seed"), ({"strategy": "random"}, "strategy")],
)
def test_resume_refuses_other_settings(tmp_path, tiny_config, change, key):
    run_campaign(tiny_config(seeds=2), tmp_path)
    with pytest.raises(DiverfuzzError, match=f"'{key}'"):
        run_campaign(tiny_config(seeds=2, **change), tmp_path, resume=True)


def test_resume_refuses_changed_models(tmp_path, tiny_config):
    """Same factory specs, different weights: caught by the stored model fingerprints."""
    run_campaign(tiny_config(seeds=2), tmp_path)
    with Corpus.in_folder(tmp_path) as corpus:
        fp = corpus.get_meta("fingerprints")
        corpus.set_meta("fingerprints", {**fp, "candidate": "0" * 16})
    with pytest.raises(DiverfuzzError, match="models differ"):
        run_campaign(tiny_config(seeds=2), tmp_path, resume=True)


def test_rng_seed_is_per_seed_not_per_order(tmp_path, tiny_config, divergence_key):
    """Fuzzing more seeds never changes what was found on the first ones."""
    small = run_campaign(tiny_config(seeds=3), tmp_path / "small").report
    large = run_campaign(tiny_config(seeds=SEEDS), tmp_path / "large").report
    with Corpus.in_folder(tmp_path / "small") as corpus:
        fuzzed = corpus.finished_seeds()
    assert len(fuzzed) == 3
    small_keys = sorted(map(divergence_key, small["divergences"]))
    large_keys = sorted(k for k in map(divergence_key, large["divergences"]) if k[0] in fuzzed)
    assert small_keys and small_keys == large_keys
    assert len(large["divergences"]) > len(small["divergences"])


def test_queries_respect_the_budget(tmp_path, tiny_config):
    with Corpus.in_folder(tmp_path) as corpus:
        assert corpus.is_empty()
    report = run_campaign(tiny_config(budget=25), tmp_path).report
    with Corpus.in_folder(tmp_path) as corpus:
        records = corpus.seed_records()
    assert len(records) == SEEDS
    assert all(1 <= r.queries <= 25 for r in records)
    # a seed without a divergence spends its whole budget
    assert all(r.queries == 25 for r in records if not r.diverged)
    assert report["summary"]["queries"] == sum(r.queries for r in records)
    for d in report["divergences"]:
        assert d["queries"] <= 25
