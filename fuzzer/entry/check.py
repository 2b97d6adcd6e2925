"""Check a model pair from Python (and from the pytest fixture): one call, one verdict.

:func:`check` replays the pair's regression corpus first (divergences found
by earlier runs, stored as plain JSON the user commits, like Hypothesis's
example database), then runs a fresh campaign, stores any new divergences
in the regression corpus, and returns a :class:`CheckResult`.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fuzzer.campaign.driver import run_campaign
from fuzzer.campaign.config import CampaignConfig
from fuzzer.campaign.storage.corpus import CORPUS_FILE
from fuzzer.errors import DiverfuzzError
from fuzzer.models.loading import normalize_inputs, validate_inputs
from fuzzer.models.precision.build import build_counterpart
from reports import render_all
from fuzzer.models.pair import ModelPair, torch_threads
from fuzzer.campaign.workload import Workload
from relations import DEFAULT_VALIDITY, Chain, RelationError

REGRESSION_VERSION = 1


def _seed_digest(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()[:16]


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:120] or "pair"


def _describe(chain: Sequence[dict]) -> str:
    if not chain:
        return "(no transformation)"
    return " -> ".join(
        f"{step['relation']}(" + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                        for k, v in step["params"].items()) + ")"
        for step in chain
    )


@dataclass
class RegressionEntry:
    """A divergence stored for replay: the seed it came from (by index and digest) and its chain."""

    seed_index: int
    seed_digest: str
    chain: list[dict]
    reference_label: int
    candidate_label: int

    def to_dict(self) -> dict:
        return {
            "seed_index": self.seed_index,
            "seed_digest": self.seed_digest,
            "chain": self.chain,
            "reference_label": self.reference_label,
            "candidate_label": self.candidate_label,
        }


class RegressionCorpus:
    """Divergences of one checked pair, kept in ``DIR/NAME.json`` (commit it).

    Entries whose seed no longer exists (other data, other index) are kept
    but skipped on replay.
    """

    def __init__(self, directory: str | Path, name: str) -> None:
        self.path = Path(directory) / f"{_safe_name(name)}.json"
        self.entries: list[RegressionEntry] = []
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("version") != REGRESSION_VERSION:
                    raise ValueError(f"version={data.get('version')!r}, expected {REGRESSION_VERSION}")
                self.entries = [RegressionEntry(**e) for e in data["divergences"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise DiverfuzzError(
                    f"regression corpus {str(self.path)!r} is not readable ({exc}); delete it to start afresh"
                ) from exc

    def add(self, entries: Sequence[RegressionEntry]) -> int:
        known = {(e.seed_digest, json.dumps(e.chain, sort_keys=True)) for e in self.entries}
        added = 0
        for e in entries:
            key = (e.seed_digest, json.dumps(e.chain, sort_keys=True))
            if key not in known:
                known.add(key)
                self.entries.append(e)
                added += 1
        return added

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {"version": REGRESSION_VERSION, "divergences": [e.to_dict() for e in self.entries]},
            indent=2,
            sort_keys=True,
        )
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def replay(self, pair: ModelPair, x: np.ndarray) -> tuple[int, list[RegressionEntry]]:
        """Re-run every entry whose seed is present; returns (replayed, still diverging)."""
        runnable = [
            e for e in self.entries if 0 <= e.seed_index < len(x) and _seed_digest(x[e.seed_index]) == e.seed_digest
        ]
        if not runnable:
            return 0, []
        mutants = []
        for e in runnable:
            try:
                mutants.append(Chain.from_list(e.chain).apply(x[e.seed_index]))
            except RelationError as exc:
                raise DiverfuzzError(f"regression corpus {str(self.path)!r}: bad chain {e.chain}: {exc}") from exc
        ref, cand = pair.logits(np.stack(mutants))
        still = [e for e, r, c in zip(runnable, ref.argmax(1), cand.argmax(1)) if r != c]
        return len(runnable), still


@dataclass
class CheckResult:
    """What :func:`check` found for one pair."""

    name: str
    report: dict
    report_dir: Path
    replayed: int = 0
    still_diverging: list[RegressionEntry] = field(default_factory=list)
    include_unstable: bool = False

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
        return self.report["summary"]["seeds"]

    @property
    def diverging_seeds(self) -> set[int]:
        """Seeds with a divergence: from the campaign or still diverging from the regression corpus."""
        return {d["seed_index"] for d in self.counted} | {e.seed_index for e in self.still_diverging}

    @property
    def success_rate(self) -> float:
        """Share of fuzzed seeds with a divergence (regression replays included)."""
        return len(self.diverging_seeds) / self.seeds if self.seeds else 0.0

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
        return (
            f"{self.name}: {len(self.diverging_seeds)}/{self.seeds} seeds diverged "
            f"({100 * self.success_rate:.1f}%), {self.queries} queries, "
            f"{self.replayed} replayed from the regression corpus ({len(self.still_diverging)} still diverge); "
            f"report: {self.report_dir / 'report.html'}"
        )

    def assert_max_success_rate(self, rate: float) -> None:
        """Raise ``AssertionError`` when more than ``rate`` of the seeds diverge."""
        if not 0.0 <= rate <= 1.0:
            raise DiverfuzzError(f"rate={rate!r} must lie in [0, 1]")
        if self.success_rate <= rate:
            return
        lines = [
            f"{len(self.diverging_seeds)} of {self.seeds} seeds diverged: success rate "
            f"{100 * self.success_rate:.1f}% > allowed {100 * rate:.1f}% ({self.name})"
        ]
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
    rng_seed: int = 0,
    name: str = "pair",
    report_dir: str | Path | None = None,
    corpus_dir: str | Path | None = None,
    population: int = 10,
    include_unstable: bool = False,
    normalize: bool = False,
) -> CheckResult:
    """Fuzz ``reference`` against ``candidate`` on ``seeds`` and return the verdict.

    Parameters
    ----------
    reference : torch.nn.Module or callable
        The full-precision model (batch -> logits).
    candidate : torch.nn.Module, callable or str
        The counterpart, or a precision spec (``"int8-static"``, ``"fp16"``,
        ...) to build it from ``reference``, calibrated on ``seeds``.
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
        Validity constraint (default ``relations.DEFAULT_VALIDITY``).
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
    """
    if normalize:
        seeds = normalize_inputs(seeds, name="seeds")
    x, y = validate_inputs(seeds, labels, name="seeds", normalize_hint="pass normalize=True to min-max scale them")
    out = Path(report_dir) if report_dir is not None else Path(tempfile.mkdtemp(prefix="diverfuzz-"))
    if (out / CORPUS_FILE).exists():
        for stale in out.glob(f"{CORPUS_FILE}*"):
            stale.unlink()
    description = {"model": getattr(reference, "__class__", type(reference)).__name__, "data": f"{len(x)} seeds given to check()"}
    spec = candidate if isinstance(candidate, str) else None
    if spec is not None:
        candidate = build_counterpart(spec, reference, x)
        description["candidate"] = f"{spec} counterpart of the reference"
    else:
        description["candidate"] = type(candidate).__name__
    config = CampaignConfig(
        # Recorded for the report; the models themselves come in the workload.
        candidate=None if spec is not None else f"{type(candidate).__name__} given to check()",
        precision=spec or "int8-static",
        seeds=len(x),
        budget=budget,
        strategy=strategy,
        rng_seed=rng_seed,
        validity=validity or DEFAULT_VALIDITY,
        population=population,
    )
    pair = ModelPair(reference, candidate, labels=(f"{name} reference", f"{name} candidate"))
    workload = Workload(pair, x, y, description)
    regression = RegressionCorpus(corpus_dir, name) if corpus_dir is not None else None
    replayed, still = 0, []
    if regression is not None:
        with torch_threads(config.threads):
            replayed, still = regression.replay(pair, x)
    result = run_campaign(config, out, workload=workload)
    _render_extra(result.report, out)
    if regression is not None:
        regression.add(
            [
                RegressionEntry(
                    d["seed_index"],
                    _seed_digest(x[d["seed_index"]]),
                    d.get("minimal_chain") or d["chain"],
                    d["reference_label"],
                    d["candidate_label"],
                )
                for d in result.report["divergences"]
            ]
        )
        regression.save()
    return CheckResult(name, result.report, out, replayed, still, include_unstable)


def _render_extra(report: dict, out: Path) -> None:
    """``report.md`` and ``junit.xml`` beside the campaign's HTML and JSON."""
    render_all(report, out, formats=("md", "junit"))


__all__ = ["CheckResult", "RegressionCorpus", "RegressionEntry", "check"]
