"""Issue 25, items 2-4: verdicts that were silently wrong.

2. A validity rule only the unchanged seed meets (``psnr>=1000``, ``l0<=0``) passed a gate:
   unchanged mutants are now counted, warned about, and fail ``check()``.
3. Triage of what MCA cannot instrument (a runtime file, behind a preprocessing wrapper or
   not; a TorchScript file) labelled every divergence ``precision-induced`` or nothing at
   all: it now says ``not triaged`` and why, in the JSON, the CLI table and the reports.
4. A PyTorch model ending in softmax had its probabilities put through softmax again:
   probability outputs are now detected once and read as log-probabilities.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.check import check
from diverfuzz.entry.cli import main

SEED_ONLY_RULES = ("psnr>=1000", "l0<=0")


def _linear(seed: int = 1234) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def _rounded(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.round(p * 16) / 16)
    return model


def _seeds(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.0, 1.0, size=(n, 1, 8, 8)).astype(np.float32)


# --- item 2: a rule only the unchanged seed meets -------------------------------------------


@pytest.mark.parametrize("rule", SEED_ONLY_RULES)
def test_seed_only_rule_is_counted_and_warned_about_on_the_cli(
    rule: str, tmp_path: Path, tiny_run_args, read_report, capsys
) -> None:
    out = tmp_path / "out"
    assert main(tiny_run_args(out, "--validity", rule)) == 0
    printed = capsys.readouterr().out
    report = read_report(out)
    s = report["summary"]
    accepted = s["queries"] - s["rejected"]
    assert accepted > 0 and s["unchanged"] == accepted  # every accepted candidate was the seed itself
    assert sum(r["unchanged"] for r in report["seed_results"]) == s["unchanged"]
    warning = [w for w in s["warnings"] if "were the seed itself" in w]
    assert len(warning) == 1 and f"accepted {accepted} candidates" in warning[0]
    assert "were the seed itself" in printed and "accepted but unchanged" in printed


@pytest.mark.parametrize("rule", SEED_ONLY_RULES)
def test_seed_only_rule_fails_check(rule: str, tmp_path: Path) -> None:
    with pytest.raises(DiverfuzzError, match=r"were the seeds themselves, unchanged, so nothing new was tested") as info:
        check(_linear(), _rounded(_linear()), _seeds(), budget=40, validity=rule, report_dir=tmp_path / "r")
    assert "\n" not in str(info.value)
    summary = json.loads((tmp_path / "r" / "report.json").read_text())["summary"]
    assert summary["unchanged"] == summary["queries"] - summary["rejected"] > 0


def test_seed_only_rule_fails_the_pytest_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_gate=textwrap.dedent(
            """
            import numpy as np
            import pytest
            import torch
            from torch import nn


            def _linear():
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(1234)
                    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


            @pytest.mark.diverfuzz(validity="psnr>=1000", budget=30)
            def test_gate(diverfuzz):
                x = np.random.default_rng(0).uniform(0, 1, (4, 1, 8, 8)).astype(np.float32)
                candidate = _linear()
                with torch.no_grad():
                    for p in candidate.parameters():
                        p.copy_(torch.round(p * 16) / 16)
                diverfuzz.check(_linear(), candidate, x).assert_max_success_rate(0.0)
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "were the seeds themselves, unchanged" in "\n".join(result.outlines)


def test_a_rule_admitting_changes_counts_few_unchanged(tmp_path: Path) -> None:
    result = check(_linear(), _rounded(_linear()), _seeds(), budget=60, report_dir=tmp_path / "r")
    s = result.report["summary"]
    assert 0 <= s["unchanged"] < 0.5 * (s["queries"] - s["rejected"])
    assert sum(r["unchanged"] for r in result.report["seed_results"]) == s["unchanged"]
    assert not [w for w in result.warnings if "seed itself" in w]


# --- item 4: softmax outputs -------------------------------------------------------------------


def _softmax_pair() -> tuple[nn.Module, nn.Module]:
    return nn.Sequential(_linear(), nn.Softmax(dim=1)), nn.Sequential(_rounded(_linear()), nn.Softmax(dim=1))


def test_softmax_outputs_are_reported_as_the_models_own_probabilities(tmp_path: Path) -> None:
    from diverfuzz.relations import Chain

    reference, candidate = _softmax_pair()
    x = _seeds(8)
    result = check(reference, candidate, x, budget=80, report_dir=tmp_path / "r")
    assert result.divergences, "the tiny pair diverges within this budget"
    for d in result.divergences:
        mutant = Chain.from_list(d["chain"]).apply(x[d["seed_index"]])
        with torch.no_grad():
            own = reference(torch.from_numpy(mutant[None])).double().numpy()[0]
        # Before: softmax(own), about uniform over 10 classes (top p ~0.105 here instead of ~0.15).
        np.testing.assert_allclose(d["reference_probs"], own, rtol=1e-5, atol=1e-7)
        assert d["reference_label"] == int(own.argmax())
    notes = [w for w in result.warnings if "probabilities, not logits" in w]
    assert len(notes) == 1 and notes[0].startswith("both models return probabilities")


def test_softmax_and_logit_models_find_the_same_divergences(tmp_path: Path) -> None:
    x = _seeds(8)
    logits = check(_linear(), _rounded(_linear()), x, budget=80, report_dir=tmp_path / "logits")
    probs = check(*_softmax_pair(), x, budget=80, report_dir=tmp_path / "probs")
    key = lambda d: (d["seed_index"], d["reference_label"], d["candidate_label"])  # noqa: E731
    assert [key(d) for d in probs.divergences] == [key(d) for d in logits.divergences]
    for a, b in zip(probs.divergences, logits.divergences):
        assert a["reference_margin"] == pytest.approx(b["reference_margin"], abs=1e-6)
    assert not [w for w in logits.warnings if "probabilities" in w]


def test_only_the_softmax_side_is_read_as_probabilities(tmp_path: Path, tiny_files, read_report) -> None:
    models = Path(tiny_files["models"]).read_text() + textwrap.dedent(
        """

        def reference_softmax():
            return nn.Sequential(reference(), nn.Softmax(dim=1))
        """
    )
    (tmp_path / "models.py").write_text(models)
    out = tmp_path / "out"
    rc = main([
        "run", "--model", f"{tmp_path / 'models.py'}:reference_softmax", "--candidate",
        f"{tmp_path / 'models.py'}:candidate", "--data", tiny_files["data"], "--seeds", "4", "--budget", "60",
        "--out", str(out), "--quiet",
    ])
    assert rc == 0
    notes = [w for w in read_report(out)["summary"]["warnings"] if "probabilities, not logits" in w]
    assert len(notes) == 1 and notes[0].startswith("the reference model returns probabilities")


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([[0.2, 0.8], [0.5, 0.5]], True),
        ([[0.2, 0.8005], [0.5, 0.499]], True),  # fp16/bf16 rounding
        ([[0.2, 0.8], [-0.1, 1.1]], False),  # a negative value: logits
        ([[0.2, 0.7], [0.5, 0.5]], False),  # a row summing to 0.9
        ([[1.0], [1.0]], False),  # a single output is no distribution
    ],
)
def test_probability_rows_are_recognised(rows, expected) -> None:
    from diverfuzz.models.pair import is_probabilities

    assert is_probabilities(np.array(rows)) is expected


# --- item 3: triage only what MCA can instrument ------------------------------------------------


@pytest.fixture(scope="module")
def runtime_files(tmp_path_factory, tiny_files) -> dict[str, Path]:
    """The tiny pair as LiteRT files (for [0, 1] inputs, and for 0..255 inputs) and TorchScript files."""
    from diverfuzz.models.runtimes.tflite_writer import write_linear_tflite

    root = tmp_path_factory.mktemp("runtime_files")
    files = {}
    for role, model in (("ref", _linear()), ("cand", _rounded(_linear()))):
        w, b = model[1].weight.detach().numpy(), model[1].bias.detach().numpy()
        files[f"{role}.tflite"] = write_linear_tflite(root / f"{role}.tflite", w, b, (8, 8, 1))
        files[f"{role}255.tflite"] = write_linear_tflite(root / f"{role}255.tflite", w / 255, b, (8, 8, 1))
        torch.jit.trace(model, torch.rand(2, 1, 8, 8)).save(str(root / f"{role}.pt"))
        files[f"{role}.pt"] = root / f"{role}.pt"
    return files


def _run_files(out: Path, reference: Path, candidate: Path, data: str, *extra: str) -> int:
    return main([
        "run", "--model", str(reference), "--candidate", str(candidate), "--data", data, "--seeds", "4",
        "--budget", "80", "--population", "10", "--out", str(out), "--quiet", *extra,
    ])


@pytest.mark.parametrize(
    "names, extra, why",
    [
        (("ref255.tflite", "cand255.tflite"), ("--input-range", "0,255"),
         "runs in LiteRT (ref255.tflite); the torch wrapper in front of it only preprocesses the input"),
        (("ref.tflite", "cand.tflite"), (), "runs in LiteRT (ref.tflite)"),
        (("ref.pt", "cand.pt"), (), "it is a TorchScript module (ref.pt)"),
    ],
    ids=["tflite-behind-input-range", "tflite", "torchscript"],
)
def test_a_reference_mca_cannot_instrument_is_not_triaged(
    names, extra, why, runtime_files, tiny_files, tmp_path: Path, read_report, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # the table's cells on one line each
    out = tmp_path / "out"
    assert _run_files(out, runtime_files[names[0]], runtime_files[names[1]], tiny_files["data"], *extra) == 0
    printed = capsys.readouterr().out
    report = read_report(out)
    divergences = report["divergences"]
    assert divergences, "the tiny pair diverges within this budget"
    # Before: every divergence 'precision-induced' (wrapper, TorchScript), or no triage and "0 / 0".
    assert {d["triage"]["label"] for d in divergences} == {"not triaged"}
    s = report["summary"]
    assert s["triage"] == {"precision-induced": 0, "reference-unstable": 0, "not triaged": len(divergences)}
    assert len(s["not_triaged_reasons"]) == 1
    assert "not triaged (MCA" in printed and why in printed
    assert why in s["not_triaged_reasons"][0]
    assert "not triaged (" in (out / "report.html").read_text()
    main(["report", str(out), "--format", "md"])
    assert "not triaged (" in (out / "report.md").read_text()


def test_a_torch_reference_behind_preprocessing_is_still_triaged() -> None:
    from diverfuzz.fuzzer.campaign.replay import triage_mutants
    from diverfuzz.models.preprocess import Preprocess
    from diverfuzz.models.preprocessed import Preprocessed
    from diverfuzz.oracles.triage import LABELS, triage_obstacle

    scaled = _linear()
    with torch.no_grad():
        scaled[1].weight /= 255
    reference = Preprocessed(scaled, Preprocess(input_range=(0.0, 255.0)))
    assert triage_obstacle(reference) is None
    rows = triage_mutants(reference, _seeds(3), 0)
    assert all(r["label"] in LABELS and r["samples"] > 0 for r in rows)


def test_a_runtime_file_behind_preprocessing_is_not_triaged_on_replay_either(runtime_files) -> None:
    from diverfuzz.fuzzer.campaign.replay import triage_mutants
    from diverfuzz.models.preprocess import Preprocess
    from diverfuzz.models.preprocessed import Preprocessed
    from diverfuzz.models.runtimes import load_model_file

    reference = Preprocessed(load_model_file(str(runtime_files["ref255.tflite"]), option="--model"),
                             Preprocess(input_range=(0.0, 255.0)))
    rows = triage_mutants(reference, _seeds(2), 0)
    # Before: MCA perturbed the x * 255 in front of the file and called both precision-induced.
    assert [r["label"] for r in rows] == ["not triaged", "not triaged"]
    assert "LiteRT (ref255.tflite)" in rows[0]["reason"]


def test_a_plain_callable_reference_says_not_triaged_in_check(tmp_path: Path) -> None:
    reference, candidate = _linear(), _rounded(_linear())

    def plain(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return reference(x)

    result = check(plain, candidate, _seeds(8), budget=80, report_dir=tmp_path / "r")
    assert result.divergences
    assert {d["triage"]["label"] for d in result.divergences} == {"not triaged"}
    assert "plain callable" in result.report["summary"]["not_triaged_reasons"][0]
    assert len(result.counted) == len(result.divergences)  # unjudged divergences still count
