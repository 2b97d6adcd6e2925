"""Backends (``local``, ``process``, ``ray``): same divergences, worker deaths, validation."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.cli import main
from diverfuzz.fuzzer.campaign.backends import get_backend
from diverfuzz.fuzzer.campaign.config import CampaignConfig
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import prepare

SEEDS = 6

try:
    import ray
except ImportError:  # Ray is an optional extra
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason="Ray not installed (pip install 'diverfuzz[ray]')")


@pytest.fixture
def tiny_config(make_tiny_config):
    return make_tiny_config(SEEDS, rng_seed=5)


@pytest.fixture
def crash_once_models(tmp_path, tiny_files):
    """Factories whose reference kills its worker process once (``os._exit``), on its third
    forward call outside this (the driver's) process; a marker file makes it happen once only."""
    marker = tmp_path / "crashed"
    path = tmp_path / "crash_models.py"
    path.write_text(
        textwrap.dedent(
            f"""
            import importlib.util
            import os

            from torch import nn

            _spec = importlib.util.spec_from_file_location("tiny_models", {tiny_files['models']!r})
            tiny = importlib.util.module_from_spec(_spec)
            _spec.loader.exec_module(tiny)


            class CrashOnce(nn.Module):
                def __init__(self, inner):
                    super().__init__()
                    self.inner = inner
                    self.calls = 0

                def forward(self, x):
                    self.calls += 1
                    if os.getpid() != {os.getpid()} and self.calls == 3 and not os.path.exists({str(marker)!r}):
                        open({str(marker)!r}, "w").close()
                        os._exit(1)
                    return self.inner(x)


            def reference():
                return CrashOnce(tiny.reference())


            candidate = tiny.candidate
            """
        )
    )
    return {"models": str(path), "marker": marker}


def _stored(out) -> tuple[list[tuple], list[int]]:
    """Divergence keys and finished seed indices in the corpus (duplicates kept)."""
    with Corpus.in_folder(out) as corpus:
        divergences = [
            (d.seed_index, d.chain.to_json(), d.reference_label, d.candidate_label, d.queries)
            for _, d in corpus.divergences()
        ]
        seeds = [r.seed_index for r in corpus.seed_records()]
    return divergences, seeds


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, make_tiny_config):
    """The reference result: the tiny campaign on the local backend."""
    out = tmp_path_factory.mktemp("local")
    run_campaign(make_tiny_config(SEEDS, rng_seed=5)(), out)
    divergences, seeds = _stored(out)
    assert divergences, "the tiny campaign should find divergences"
    return {"divergences": sorted(divergences), "seeds": sorted(seeds), "out": out}


# -- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(backend="spark"), "--backend='spark' is unknown"),
        (dict(workers=0), "--workers=0 must be an integer >= 1"),
        (dict(backend="process", ray_address="auto"), "--ray-address='auto' needs --backend ray"),
    ],
)
def test_config_rejects_bad_backend_settings(overrides, message):
    with pytest.raises(DiverfuzzError) as info:
        CampaignConfig(**overrides)
    assert message in str(info.value)


def test_backend_settings_do_not_change_the_resume_key():
    local = CampaignConfig()
    remote = CampaignConfig(backend="ray", workers=8, ray_address="auto")
    assert local.resume_key() == remote.resume_key()
    assert CampaignConfig.from_dict(remote.to_dict()) == remote


def test_in_memory_workload_cannot_reach_workers(tmp_path, tiny_config):
    config = tiny_config(backend="process", workers=2)
    with pytest.raises(DiverfuzzError, match=r"run_campaign\(workload=\.\.\.\)"):
        run_campaign(config, tmp_path / "out", workload=prepare(tiny_config()))
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_ray_backend_without_ray_says_how_to_install(monkeypatch, tiny_config):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(DiverfuzzError, match=r"--backend ray needs Ray: pip install 'diverfuzz\[ray\]'"):
        get_backend(tiny_config(backend="ray"))


def test_cli_reports_backend_errors(tmp_path, tiny_run_args, capsys):
    assert main(tiny_run_args(tmp_path / "out", "--workers", "0")) == 2
    assert "--workers=0 must be an integer >= 1" in capsys.readouterr().err


# -- same results on every backend --------------------------------------------------


@pytest.mark.slow
def test_process_backend_finds_what_local_finds(tmp_path, tiny_run_args, local_run, read_report, divergence_key):
    out = tmp_path / "process"
    args = tiny_run_args(out, "--backend", "process", "--workers", "2", "--rng-seed", "5", seeds=SEEDS)
    assert main(args) == 0
    divergences, seeds = _stored(out)
    assert sorted(divergences) == local_run["divergences"]
    assert sorted(seeds) == local_run["seeds"]
    report = read_report(out)
    assert report["config"]["backend"] == "process" and report["config"]["workers"] == 2
    local_report = read_report(local_run["out"])
    assert {divergence_key(d) for d in report["divergences"]} == {
        divergence_key(d) for d in local_report["divergences"]
    }
    assert report["summary"]["queries"] == local_report["summary"]["queries"]
    # Each worker probes the models again when it builds them; those evaluations count too.
    extra = report["summary"]["total_model_evaluations"] - local_report["summary"]["total_model_evaluations"]
    probe = prepare(CampaignConfig(**{k: local_report["config"][k] for k in ("model", "candidate", "data")})).probe
    assert probe is not None and probe.queries > 0
    assert extra in (2 * probe.queries, 2 * 2 * probe.queries), (extra, probe.queries)


def test_local_threads_find_what_one_thread_finds(tmp_path, tiny_run_args, local_run, read_report, divergence_key):
    out = tmp_path / "threads"
    assert main(tiny_run_args(out, "--workers", "3", "--rng-seed", "5", seeds=SEEDS)) == 0
    divergences, seeds = _stored(out)
    assert sorted(divergences) == local_run["divergences"]
    assert sorted(seeds) == local_run["seeds"]
    report, local_report = read_report(out), read_report(local_run["out"])
    assert report["config"]["backend"] == "local" and report["config"]["workers"] == 3
    assert [divergence_key(d) for d in report["divergences"]] == [divergence_key(d) for d in local_report["divergences"]]
    for field in ("queries", "rejected", "shrink_queries", "triage_evaluations", "total_model_evaluations"):
        assert report["summary"][field] == local_report["summary"][field], field


def test_local_threads_take_in_memory_models(tmp_path, tiny_config, local_run):
    run_campaign(tiny_config(workers=2), tmp_path / "out", workload=prepare(tiny_config()))
    divergences, seeds = _stored(tmp_path / "out")
    assert sorted(divergences) == local_run["divergences"]
    assert sorted(seeds) == local_run["seeds"]


def test_interrupted_seed_threads_keep_what_finished_and_resume_completes(tmp_path, tiny_config, local_run):
    def interrupt_after_two(done, total, found, queries):
        if done >= 2:
            raise KeyboardInterrupt

    first = run_campaign(tiny_config(workers=3), tmp_path, progress=interrupt_after_two)
    assert first.interrupted
    stored_seeds = _stored(tmp_path)[1]
    assert len(stored_seeds) == 2 and len(set(stored_seeds)) == 2  # seeds still running when stopped are dropped
    second = run_campaign(tiny_config(workers=2), tmp_path, resume=True)
    assert not second.interrupted
    divergences, seeds = _stored(tmp_path)
    assert sorted(divergences) == local_run["divergences"]
    assert sorted(seeds) == local_run["seeds"]


@pytest.mark.slow
def test_resume_on_another_backend_completes_the_campaign(tmp_path, tiny_config, local_run):
    def interrupt_after_two(done, total, found, queries):
        if done >= 2:
            raise KeyboardInterrupt

    first = run_campaign(tiny_config(), tmp_path, progress=interrupt_after_two)
    assert first.interrupted
    assert len(_stored(tmp_path)[1]) == 2
    second = run_campaign(tiny_config(backend="process", workers=2), tmp_path, resume=True)
    assert not second.interrupted
    divergences, seeds = _stored(tmp_path)
    assert sorted(divergences) == local_run["divergences"]
    assert sorted(seeds) == local_run["seeds"]


# -- worker deaths -----------------------------------------------------------------------


@pytest.mark.slow
def test_killed_process_worker_loses_and_duplicates_nothing(tmp_path, tiny_config, crash_once_models, local_run):
    from diverfuzz.fuzzer.campaign.backends.process import ProcessBackend

    factory = crash_once_models["models"]
    config = tiny_config(model=f"{factory}:reference", candidate=f"{factory}:candidate", backend="process", workers=2)
    assert isinstance(get_backend(config), ProcessBackend)
    calls = []
    run_campaign(config, tmp_path / "out", progress=lambda *a: calls.append(a))
    assert crash_once_models["marker"].exists(), "a worker should have been killed"
    assert [c[0] for c in calls] == list(range(SEEDS + 1))  # progress over all workers, each seed once
    divergences, seeds = _stored(tmp_path / "out")
    assert sorted(divergences) == local_run["divergences"]  # nothing lost, nothing twice
    assert sorted(seeds) == local_run["seeds"]


# -- Ray (optional extra; a local Ray instance) ---------------------------------------------


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@needs_ray
@pytest.mark.slow
def test_ray_backend_finds_what_local_finds(tmp_path, tiny_config, local_ray, local_run):
    calls = []
    run_campaign(tiny_config(backend="ray", workers=2), tmp_path, progress=lambda *a: calls.append(a))
    divergences, seeds = _stored(tmp_path)
    assert sorted(divergences) == local_run["divergences"]
    assert sorted(seeds) == local_run["seeds"]
    assert [c[0] for c in calls] == list(range(SEEDS + 1))


@needs_ray
@pytest.mark.slow
def test_killed_ray_actor_is_restarted_and_loses_nothing(tmp_path, tiny_config, crash_once_models, local_ray, local_run):
    factory = crash_once_models["models"]
    config = tiny_config(model=f"{factory}:reference", candidate=f"{factory}:candidate", backend="ray", workers=2)
    run_campaign(config, tmp_path / "out")
    assert crash_once_models["marker"].exists(), "an actor should have been killed"
    divergences, seeds = _stored(tmp_path / "out")
    assert sorted(divergences) == local_run["divergences"]
    assert sorted(seeds) == local_run["seeds"]
