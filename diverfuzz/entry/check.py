"""Check a model pair from Python (and from the pytest fixture): one call, one verdict.

:func:`check` replays the pair's regression corpus first (divergences found
by earlier runs, stored as plain JSON the user commits, like Hypothesis's
example database), then runs a fresh campaign, stores any new divergences
in the regression corpus, and returns a :class:`CheckResult`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig, config_options, flag
from diverfuzz.fuzzer.campaign.driver import run_campaign
from diverfuzz.fuzzer.campaign.rebuild import BY_CHECK, CHECK_SEEDS, CHECK_SEEDS_LIMIT
from diverfuzz.fuzzer.campaign.replay import replay_stored
from diverfuzz.fuzzer.campaign.storage.corpus import CORPUS_FILE
from diverfuzz.fuzzer.campaign.storage.regression import (
    RegressionCorpus,
    RegressionEntry,
    seed_digest,
)
from diverfuzz.fuzzer.campaign.storage.stored import StoredDivergence
from diverfuzz.fuzzer.campaign.summary import nearly_all_unchanged
from diverfuzz.fuzzer.campaign.workload import (
    FROM_CONFIG,
    IN_MEMORY,
    Workload,
    probe_models,
)
from diverfuzz.models.loading import normalize_inputs, validate_inputs
from diverfuzz.models.pair import ModelPair, torch_threads
from diverfuzz.models.precision.build import build_counterpart
from diverfuzz.models.runtimes import is_model_file, load_model_file
from diverfuzz.relations import DEFAULT_VALIDITY
from diverfuzz.reports import render_all

REGRESSION_VERSION = 1


def _describe(chain: Sequence[dict]) -> str:
    if not chain:
        return "(no transformation)"
    return " -> ".join(
        f"{step['relation']}(" + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                        for k, v in step["params"].items()) + ")"
        for step in chain
    )


@dataclass
class CheckResult:
    """What :func:`check` found for one pair."""

    name: str
    report: dict
    report_dir: Path
    replayed: int = 0
    still_diverging: list[StoredDivergence] = field(default_factory=list)
    include_unstable: bool = False
    #: ``check(estimate=...)``'s records (``estimate.json``'s ``records``), None without an estimate.
    estimate: list[dict] | None = None
    #: ``check(explain=True)``'s explanation (``explain.json``: culprit layers per divergence, the fix), else None.
    explanation: dict | None = None

    @property
    def divergences(self) -> list[dict]:
        """Divergences found by this run's campaign (``report.json``'s list)."""
        return self.report["divergences"]

    @property
    def counted(self) -> list[dict]:
        """Divergences that fail a check: by default only those whose triage does not
        say ``reference-unstable`` (the full-precision model itself is unsure there)."""
        if self.include_unstable:
            return self.divergences
        return [d for d in self.divergences if (d.get("triage") or {}).get("label") != "reference-unstable"]

    @property
    def seeds(self) -> int:
        """Seeds fuzzed (the models agreed on them unmodified)."""
        return self.report["summary"]["seeds"]

    @property
    def clean_disagreements(self) -> list[int]:
        """Seeds (indexes into the seeds given) the two models already label differently, unmodified.

        They are not fuzzed (they are divergences without any transformation)
        but they count in :attr:`divergence_rate` and fail
        :meth:`assert_max_success_rate` like any divergence.
        """
        return [int(i) for i in self.report["summary"].get("clean_disagreements") or []]

    def _fuzzed(self) -> set[int] | None:
        rows = self.report.get("seed_results")
        return None if rows is None else {int(r["seed_index"]) for r in rows}

    @property
    def diverging_seeds(self) -> set[int]:
        """Seeds that diverge: unmodified (clean disagreements), after fuzzing (counted
        campaign divergences), or in a regression-corpus entry that still diverges."""
        return (
            {d["seed_index"] for d in self.counted}
            | set(self.clean_disagreements)
            | {e.seed_index for e in self.still_diverging}
        )

    @property
    def seeds_checked(self) -> int:
        """Seeds a divergence was looked for on: fuzzed seeds, clean disagreements and
        the seeds of regression entries that still diverge (each counted once)."""
        still = {e.seed_index for e in self.still_diverging}
        clean = set(self.clean_disagreements)
        fuzzed = self._fuzzed()
        if fuzzed is not None:
            return len(fuzzed | clean | still)
        counted = {d["seed_index"] for d in self.counted}
        return self.seeds + len(clean) + len(still - counted - clean)

    @property
    def divergence_rate(self) -> float:
        """Share of the seeds checked that diverge, clean or after fuzzing, in [0, 1]."""
        checked = self.seeds_checked
        return len(self.diverging_seeds) / checked if checked else 0.0

    @property
    def success_rate(self) -> float:
        """Search success: share of fuzzed seeds with a counted divergence (from this
        campaign or a regression entry that still diverges), in [0, 1]."""
        if not self.seeds:
            return 0.0
        found = {d["seed_index"] for d in self.counted} | {e.seed_index for e in self.still_diverging}
        fuzzed = self._fuzzed()
        return len(found & fuzzed if fuzzed is not None else {d["seed_index"] for d in self.counted}) / self.seeds

    @property
    def warnings(self) -> list[str]:
        """Why the run may say little (``summary.warnings``): validity rejecting nearly
        everything, labels outside the models' outputs, identical logits, ..."""
        return list(self.report["summary"].get("warnings") or [])

    @property
    def queries(self) -> int:
        return self.report["summary"]["queries"]

    def worst(self) -> dict | None:
        """The most natural divergence: the highest SSIM to its seed (ties: fewest steps)."""
        if not self.counted:
            return None

        def key(d: dict) -> tuple:
            ssim = (d.get("validity") or {}).get("ssim")
            chain = d.get("minimal_chain") or d["chain"]
            return (-(ssim if isinstance(ssim, (int, float)) else -1.0), len(chain), d["seed_index"])

        return min(self.counted, key=key)

    def summary_line(self) -> str:
        clean = len(self.clean_disagreements)
        return (
            f"{self.name}: {len(self.diverging_seeds)}/{self.seeds_checked} seeds diverged "
            f"({100 * self.divergence_rate:.1f}%; {clean} before any transformation), "
            f"{self.queries} queries, "
            f"{self.replayed} replayed from the regression corpus ({len(self.still_diverging)} still diverge); "
            f"report: {self.report_dir / 'report.html'}"
        )

    def assert_max_divergence_probability(
        self, p: float, relation: str | None = None, severity: int | None = None
    ) -> None:
        """Raise ``AssertionError`` when a cell's upper bound exceeds ``p``.

        Parameters
        ----------
        p : float
            Largest allowed divergence probability, in [0, 1].
        relation : str, optional
            Only this relation's cells (``"clean"``: the severity-0 cell). Default: every cell.
        severity : int, optional
            Only cells of this severity, 0-5. Default: every severity.

        Needs ``check(..., estimate=...)``. The message names the worst cell: the one with
        the highest upper bound of its 95% interval.
        """
        from diverfuzz.fuzzer.estimate import worst_cell

        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise DiverfuzzError(f"p={p!r} must lie in [0, 1]")
        if self.estimate is None:
            raise DiverfuzzError(
                "assert_max_divergence_probability needs an estimate: call check(..., estimate=100) first"
            )
        worst = worst_cell(self.estimate, relation, severity)
        if worst is None:
            raise DiverfuzzError(
                f"relation={relation!r}, severity={severity!r}: no estimated cell matches; cells: "
                + ", ".join(sorted({f"{r['relation']}:{r['severity']}" for r in self.estimate}))
            )
        if worst["high"] <= p:
            return
        raise AssertionError(
            f"divergence probability of {worst['relation']} at severity {worst['severity']}: "
            f"{100 * worst['probability']:.2f}% [95% interval {100 * worst['low']:.2f}%, {100 * worst['high']:.2f}%] "
            f"over {worst['samples']} draws on {worst['seeds']} seeds; upper bound > allowed {100 * p:.2f}% "
            f"({self.name}); report: {self.report_dir / 'report.html'}"
        )

    def assert_max_success_rate(self, rate: float) -> None:
        """Raise ``AssertionError`` when more than ``rate`` of the seeds checked diverge.

        A seed counts when the models disagree on it unmodified
        (:attr:`clean_disagreements`), after fuzzing, or in a regression
        entry that still diverges; the rate is :attr:`divergence_rate`.
        """
        if not 0.0 <= rate <= 1.0:
            raise DiverfuzzError(f"rate={rate!r} must lie in [0, 1]")
        if self.divergence_rate <= rate:
            return
        clean = self.clean_disagreements
        lines = [
            f"{len(self.diverging_seeds)} of {self.seeds_checked} seeds diverged: divergence rate "
            f"{100 * self.divergence_rate:.1f}% > allowed {100 * rate:.1f}% ({self.name})"
        ]
        if clean:
            shown = ", ".join(map(str, clean[:10])) + (", ..." if len(clean) > 10 else "")
            lines.append(f"{len(clean)} seeds disagree before any transformation (seeds {shown})")
        worst = self.worst()
        if worst is not None:
            chain = worst.get("minimal_chain") or worst["chain"]
            lines.append(
                f"most natural divergence: seed {worst['seed_index']}, {_describe(chain)}: "
                f"reference says {worst['reference_label']}, candidate says {worst['candidate_label']}"
            )
        if self.still_diverging:
            lines.append(f"{len(self.still_diverging)} divergences from the regression corpus still diverge")
        lines.append(f"report: {self.report_dir / 'report.html'}")
        raise AssertionError("\n".join(lines))


def check(
    reference: Any,
    candidate: Any,
    seeds: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    budget: int = 200,
    strategy: str = "genetic",
    validity: str | None = None,
    min_margin: float = 0.0,
    rng_seed: int = 0,
    name: str = "pair",
    report_dir: str | Path | None = None,
    corpus_dir: str | Path | None = None,
    population: int = 10,
    include_unstable: bool = False,
    normalize: bool = False,
    calibration: np.ndarray | None = None,
    strategy_params: str | None = None,
    workers: int = 1,
    threads: int = 1,
    estimate: Any = None,
    explain: bool = False,
) -> CheckResult:
    """Fuzz ``reference`` against ``candidate`` on ``seeds`` and return the verdict.

    Parameters
    ----------
    reference : torch.nn.Module, callable or str
        The full-precision model (batch -> logits), or the path of a model file.
    candidate : torch.nn.Module, callable or str
        The counterpart, or a precision spec (``"int8-static"``, ``"fp16"``,
        ...) to build it from ``reference``, calibrated on ``calibration``
        (default: on ``seeds``), or the path of a model file (``.onnx``,
        ``.tflite``, ``.pt2``, TorchScript ``.pt``).
    seeds : ndarray, float32, ``(N, C, H, W)`` or ``(N, C, T)``, values in [0, 1]
        Seed inputs; those the two models already disagree on (or, with
        ``labels``, misclassify) are not fuzzed.
    labels : ndarray of int, optional
        Labels of ``seeds``.
    budget : int, optional
        Model-pair queries per seed (default 200).
    strategy : str, optional
        Search strategy (default ``"genetic"``).
    validity : str, optional
        Validity constraint (default ``diverfuzz.relations.DEFAULT_VALIDITY``, ``"natural"``).
    min_margin : float, optional
        Count only decisive divergences, where the reference's top-1 minus top-2
        probability on the input is at least this (``--min-margin``, in ``[0, 1)``;
        default 0: every disagreement counts).
    rng_seed : int, optional
        Seed of every random choice (default 0).
    name : str, optional
        Names the pair in messages, the report folder and the regression corpus file.
    report_dir : path-like, optional
        Where ``report.html``/``.md``/``.json`` and ``junit.xml`` go (default: a new temp folder).
        A previous run's corpus there is replaced.
    corpus_dir : path-like, optional
        Regression corpus folder: replayed first, then updated with new divergences.
    include_unstable : bool, optional
        Count divergences triaged ``reference-unstable`` too (default False:
        only those the reduced precision causes fail a check).
    normalize : bool, optional
        Min-max scale ``seeds`` into [0, 1] (one min and max over the whole
        array) instead of refusing values outside it (default False).
    calibration : ndarray, float32, optional
        Inputs, shaped like ``seeds`` with values in [0, 1], that calibrate a
        counterpart built from a spec (``int8-static``, ``onnx-int8``, ...);
        default: the seeds themselves. Calibrating on held-out data, as a
        deployment would, keeps the seeds out of the quantization ranges.
    strategy_params : str, optional
        Strategy field overrides, ``"NAME=VALUE,..."`` (``--strategy-params``;
        e.g. ``"bisect=16,screen=4"`` for the genetic search under a strict
        ``validity``). Default None: the strategy's defaults.
    workers : int, optional
        Seeds fuzzed at once, in threads of this process over the same
        models (``--workers``; each model takes one call at a time). Default 1.
        Nothing found depends on it.
    threads : int, optional
        Intra-op threads of torch and ONNX Runtime, and threads applying
        relations and validity metrics on inputs of more than 16,384 values
        (``--threads``). Default 1.
    estimate : True, int or dict, optional
        Also estimate how often the pair disagrees, per relation and natural severity
        (``diverfuzz estimate``): True (100 draws per seed, relation and severity), the draws
        as an int (1 to 1,000,000), or ``{"samples": N, "severities": "1-5", "relations": [...]}``.
        The table goes to ``result.estimate``, the reports (heatmap, table, JUnit properties)
        and ``estimate.json``; gate it with ``result.assert_max_divergence_probability(p)``.
        Default None (or False): no estimate.
    explain : bool, optional
        Also attribute each divergence to the layers whose reduced precision it depends on and
        find the fewest layers to keep at float32 (``diverfuzz explain``): the result goes to
        ``result.explanation`` (``explain.json``: ``divergences`` with their ``culprits``,
        ``histogram``, ``fix``), a policy file in the report folder and the HTML report. Needs
        ``candidate`` to be a precision spec. Default False.
    """
    with python_spelling():
        return _check(
            reference, candidate, seeds, labels=labels, budget=budget, strategy=strategy, validity=validity,
            min_margin=min_margin, rng_seed=rng_seed, name=name, report_dir=report_dir, corpus_dir=corpus_dir,
            population=population, include_unstable=include_unstable, normalize=normalize, calibration=calibration,
            strategy_params=strategy_params, workers=workers, threads=threads, estimate=estimate,
            explain=explain,
        )


#: Config fields whose Python argument has another name (the precision spec is ``candidate=``).
_PYTHON_NAMES = {"precision": "candidate"}


def python_name(message: str) -> str:
    """``message`` with the command line's ``--flag=value`` spelled as Python's ``argument=value``.

    The config's one-line errors name command-line flags (``--rng-seed=-1``);
    raised from :func:`check`, they name its keyword arguments (``rng_seed=-1``).
    """
    for option, _, _ in config_options():
        message = message.replace(f"{flag(option)}=", f"{_PYTHON_NAMES.get(option, option)}=")
    return message.replace("--out=", "report_dir=")


@contextlib.contextmanager
def python_spelling() -> Iterator[None]:
    """Re-raise a :class:`DiverfuzzError` from inside with :func:`python_name`'s spelling (same type, same traceback)."""
    try:
        yield
    except DiverfuzzError as exc:
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (python_name(exc.args[0]), *exc.args[1:])
        raise


def _check(
    reference: Any, candidate: Any, seeds: np.ndarray, *, labels, budget, strategy, validity, min_margin, rng_seed,
    name, report_dir, corpus_dir, population, include_unstable, normalize, calibration, strategy_params, workers,
    threads, estimate=None, explain=False,
) -> CheckResult:
    if estimate is False:  # estimate=False: none, like None
        estimate = None
    if estimate is not None:
        from diverfuzz.fuzzer.estimate import estimate_options

        estimate_options(estimate)  # a bad value fails before any model is built
    if normalize:
        seeds = normalize_inputs(seeds, name="seeds")
    x, y = validate_inputs(seeds, labels, name="seeds", normalize_hint="pass normalize=True to min-max scale them")
    out = _fresh_report_dir(report_dir)
    # How the models were given, recorded so that `diverfuzz replay DIR` rebuilds these
    # models (files, spec) or refuses in one line (in-memory objects), never another pair.
    reference_file, candidate_file = _model_file(reference), _model_file(candidate)
    in_memory = {"reference": f"{type(reference).__name__} given to check()",
                 "candidate": f"{type(candidate).__name__} given to check()"}
    reference, candidate, spec, description = _resolve_models(reference, candidate, x, calibration)
    if explain and spec is None:
        raise DiverfuzzError(
            "explain=True needs candidate= a precision spec (e.g. 'int8-static' or a policy .json), "
            "from which counterparts with single layers restored can be built"
        )
    seeds_file = _store_seeds(out, x, y, calibration if spec is not None else None)
    origin = {
        "reference": FROM_CONFIG if reference_file else IN_MEMORY,
        "candidate": FROM_CONFIG if candidate_file or spec is not None else IN_MEMORY,
        "data": FROM_CONFIG if seeds_file else IN_MEMORY,
        "by": BY_CHECK,
    }
    config = CampaignConfig(
        # The models themselves come in the workload; these say how to rebuild them.
        model=reference_file or in_memory["reference"],
        candidate=candidate_file or (None if spec is not None else in_memory["candidate"]),
        precision=spec or "int8-static",
        data=seeds_file,
        device="cpu",
        seeds=len(x),
        budget=budget,
        strategy=strategy,
        rng_seed=rng_seed,
        validity=validity or DEFAULT_VALIDITY,
        min_margin=min_margin,
        population=population,
        strategy_params=strategy_params,
        workers=workers,
        threads=threads,
    )
    pair = ModelPair(reference, candidate, labels=(f"{name} reference", f"{name} candidate"))
    workload = Workload(pair, x, y, description, origin=origin)
    probe_models(workload)  # batch-dependent models run one input at a time, replays too
    regression = RegressionCorpus(corpus_dir, name) if corpus_dir is not None else None
    replayed, still = 0, []
    if regression is not None:
        replayed, still = _replay_regression(regression, pair, x, config, include_unstable)
    result = run_campaign(config, out, workload=workload)
    estimated = None
    if estimate is not None:
        from diverfuzz.fuzzer.estimate import attach_estimate, estimate_workload

        found = estimate_workload(workload, estimate, rng_seed=rng_seed, threads=threads)
        estimated = attach_estimate(result.report, out, x, found)["estimate"]
    explanation = None
    if explain:
        from diverfuzz.fuzzer.explain import explain as explain_campaign

        found = explain_campaign(out, workload=workload, calibration=x if calibration is None else calibration)
        explanation = found.to_dict()
        result.report["explain"] = found.section()
    _render_extra(result.report, out)
    _refuse_if_all_rejected(result.report["summary"], config.validity, out)
    _refuse_if_only_seeds(result.report["summary"], config.validity, out)
    if regression is not None:
        _store_divergences(regression, x, result.report["divergences"])
    return CheckResult(name, result.report, out, replayed, still, include_unstable, estimated, explanation)


def _fresh_report_dir(report_dir: str | Path | None) -> Path:
    """``report_dir`` rid of a previous run's corpus, or a new temp folder."""
    out = Path(report_dir) if report_dir is not None else Path(tempfile.mkdtemp(prefix="diverfuzz-"))
    if (out / CORPUS_FILE).exists():
        for stale in out.glob(f"{CORPUS_FILE}*"):
            stale.unlink()
    return out


def _model_file(model: Any) -> str | None:
    """The absolute path of a model file given as ``reference=``/``candidate=``, else None."""
    return os.path.abspath(model) if isinstance(model, str) and is_model_file(model) else None


def _store_seeds(out: Path, x: np.ndarray, y: np.ndarray | None, calibration: np.ndarray | None) -> str | None:
    """Save the seeds (and the calibration set a spec's counterpart was built from) in ``out/seeds.npz``.

    ``diverfuzz replay``, ``report`` and ``evaluate-supervisors`` read them
    from there. Returns the file's absolute path, or None (and no file)
    above :data:`~diverfuzz.fuzzer.campaign.rebuild.CHECK_SEEDS_LIMIT` bytes.
    """
    path = out / CHECK_SEEDS
    arrays = {"x": x}
    if y is not None:
        arrays["y"] = y
    if calibration is not None:
        arrays["calibration"] = validate_inputs(calibration, name="calibration")[0]
    if sum(a.nbytes for a in arrays.values()) > CHECK_SEEDS_LIMIT:
        path.unlink(missing_ok=True)  # a previous run's seeds must not pass for these
        return None
    out.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return os.path.abspath(path)


def _resolve_models(
    reference: Any, candidate: Any, x: np.ndarray, calibration: np.ndarray | None
) -> tuple[Any, Any, str | None, dict]:
    """``(reference, candidate, spec, description)``: model files loaded, a spec's counterpart built.

    ``spec`` is the precision spec the candidate was built from (None for a
    given model); ``description`` the workload's description of the pair.
    """
    description = {"model": getattr(reference, "__class__", type(reference)).__name__, "data": f"{len(x)} seeds given to check()"}
    if isinstance(reference, str) and is_model_file(reference):
        reference = load_model_file(reference, option="reference")
    if isinstance(candidate, str) and is_model_file(candidate):
        candidate = load_model_file(candidate, option="candidate")
    spec = candidate if isinstance(candidate, str) else None
    if calibration is not None:
        calibration = validate_inputs(calibration, name="calibration")[0]
        if calibration.shape[1:] != x.shape[1:]:
            raise DiverfuzzError(
                f"calibration: inputs of shape {calibration.shape[1:]} but seeds of shape {x.shape[1:]}; give the same shape"
            )
    if spec is not None:
        candidate = build_counterpart(spec, reference, x if calibration is None else calibration)
        description["candidate"] = f"{spec} counterpart of the reference"
        description["calibration"] = (
            f"the {len(x)} seeds themselves (pass calibration= to calibrate on held-out inputs)"
            if calibration is None else f"{len(calibration)} inputs given to check(calibration=)"
        )
    else:
        description["candidate"] = type(candidate).__name__
    return reference, candidate, spec, description


def _replay_regression(
    regression: RegressionCorpus, pair: ModelPair, x: np.ndarray, config: CampaignConfig, include_unstable: bool
) -> tuple[int, list[StoredDivergence]]:
    """``(entries replayed, stored divergences that still diverge)`` of the regression corpus.

    The same replay as `diverfuzz replay`: label pair, validity, and triage
    of the stored chain; unstable references count only on request.
    """
    with torch_threads(config.threads):
        outcomes = replay_stored(pair, x, regression.stored(x), config.validity)
    return len(outcomes), [o.stored for o in outcomes if o.reproduced and (include_unstable or o.precision_induced)]


def _refuse_if_all_rejected(summary: dict, validity: str, out: Path) -> None:
    """Raise when the validity rule rejected every candidate: nothing was tested."""
    if summary["queries"] and summary.get("rejected") == summary["queries"]:
        raise DiverfuzzError(
            f"check(validity={validity!r}): the validity rule rejected all {summary['queries']} "
            "candidate inputs, so nothing was tested; loosen it (ssim lies in [0, 1], psnr in dB); "
            f"report: {out / 'report.html'}"
        )


def _refuse_if_only_seeds(summary: dict, validity: str, out: Path) -> None:
    """Raise when nearly every candidate the rule accepted was the seed itself: nothing new was tested.

    The share is :data:`diverfuzz.fuzzer.campaign.summary.NEARLY_ALL_UNCHANGED` (the
    summary warns at the same share); counting is the campaign's (``summary.unchanged``).
    """
    accepted = int(summary.get("queries") or 0) - int(summary.get("rejected") or 0)
    unchanged = int(summary.get("unchanged") or 0)
    if nearly_all_unchanged(unchanged, accepted):
        raise DiverfuzzError(
            f"check(validity={validity!r}): {unchanged} of the {accepted} candidate inputs the validity rule "
            "accepted were the seeds themselves, unchanged, so nothing new was tested; loosen the rule so it "
            f"admits changed inputs (ssim lies in [0, 1], psnr in dB); report: {out / 'report.html'}"
        )


def _store_divergences(regression: RegressionCorpus, x: np.ndarray, divergences: list[dict]) -> None:
    """Add this run's divergences (their minimal chains) to the regression corpus and save it."""
    regression.add(
        [
            RegressionEntry(
                d["seed_index"],
                seed_digest(x[d["seed_index"]]),
                d.get("minimal_chain") or d["chain"],
                d["reference_label"],
                d["candidate_label"],
            )
            for d in divergences
        ]
    )
    regression.save()


def _render_extra(report: dict, out: Path) -> None:
    """``report.md`` and ``junit.xml`` beside the campaign's HTML and JSON."""
    render_all(report, out, formats=("md", "junit"))


__all__ = ["CheckResult", "RegressionCorpus", "RegressionEntry", "check"]
