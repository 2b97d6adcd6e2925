"""``diverfuzz explain DIR``: which layer's reduced precision each stored divergence depends on, and the fix.

For a campaign whose counterpart was built from the reference with
``--precision`` (``int8-static``, ``onnx-int8``, torchao specs, emulated
formats, per-layer policies), :func:`explain`

1. rebuilds the reference, the seeds and the calibration set as the
   campaign did, and every stored divergence's mutant from its seed and
   stored chain (as replay does; no new search);
2. attributes each divergence to the smallest set of layers whose
   restoration to float32 makes the pair agree on it
   (:func:`diverfuzz.oracles.explain.attribute`, over counterparts built by
   :class:`diverfuzz.models.precision.restore.PartialCounterparts`), and
   records per layer the relative error of the counterpart's activation
   against the reference's, on the mutant and on its seed (``onnx-int8``:
   per layer, the tensor its node writes in the QDQ file against the float
   file, :meth:`PartialCounterparts.onnx_layer_errors`);
3. chooses the fewest layers to keep at float32 that remove at least
   ``target`` of the divergences (:func:`diverfuzz.oracles.explain.cover_fix`:
   every subset for up to six layers, else greedy set cover of the culprit
   sets, measured, pruned and extended greedily when short),
   writes them as a per-layer policy file (:data:`FIX_POLICY`, which
   ``--precision FILE.json`` accepts), builds that counterpart from the file
   and replays every stored divergence against it
   (:func:`diverfuzz.fuzzer.campaign.replay.replay_stored`): ``removed`` is
   the share that no longer diverges; it also reports the share of weights
   and of MACs kept at float32, and the clean accuracy before and after;
4. writes :data:`EXPLAIN_JSON`.

A candidate given as a model file cannot be rebuilt with layers restored:
for a float and an int8 file, both ``.onnx`` or both ``.tflite``, explain
notes so in one line and writes only the error of every tensor the two files
share by name; for other files it raises a one-line error.

The kept layers stay at float32, the reference's own precision: it is the
only higher precision every counterpart above can express per layer (the
x86 int8 kernels have no fp16 path; an unquantized layer of a PT2E or QDQ
graph runs in float32), and restoring the reference's precision is what
makes a divergence's dependence on a layer exact.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from diverfuzz.common.atomic import atomic_write_text
from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.driver import build_report, write_reports
from diverfuzz.fuzzer.campaign.rebuild import BY_CHECK, build_workload, open_stored
from diverfuzz.fuzzer.campaign.replay import replay_stored
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import ROLES, Workload, load_reference, load_seeds
from diverfuzz.models.activations import layer_outputs, relative_errors
from diverfuzz.models.inference import batched_logits
from diverfuzz.models.pair import ModelPair, torch_threads
from diverfuzz.models.precision.onnx_runtime import onnx_tensor_errors
from diverfuzz.models.precision.restore import PartialCounterparts, fix_policy, layer_costs
from diverfuzz.models.preprocessed import Preprocessed
from diverfuzz.models.runtimes.litert import tflite_tensor_errors
from diverfuzz.oracles.explain import attribute, cover_fix, culprit_histogram

EXPLAIN_JSON = "explain.json"
FIX_POLICY = "explain_fix.json"


@dataclass
class Explanation:
    """What :func:`explain` found (the content of ``explain.json``).

    ``divergences``: per stored divergence ``{"id", "seed_index", "culprits",
    "single", "resolved", "layer_errors": {layer: {"input", "seed"}}}``;
    ``histogram``: per layer, how many divergences name it a culprit;
    ``fix``: ``{"policy", "layers", "removed", "removed_restored",
    "weights_share", "macs_share", "accuracy": {"before", "after"}, "steps"}``;
    ``seconds``: explain's wall time; ``campaign_seconds``: the campaign's.
    A campaign whose candidate is a model file (an int8 ``.onnx`` or
    ``.tflite`` file made from the float reference file of the same kind)
    has no culprits and no fix (``fix`` None): its ``layer_errors`` are per
    tensor the two files share by name (none when no name is shared; a note
    says so).
    """

    precision: str
    layers: list[str]
    divergences: list[dict]
    histogram: dict[str, int]
    fix: dict | None
    seconds: float
    campaign_seconds: float | None
    builds: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def section(self) -> dict:
        """The report's ``explain`` section: layers, culprit histogram, how many divergences, the fix."""
        fix = {k: self.fix[k] for k in ("policy", "layers", "removed", "weights_share", "macs_share", "accuracy")}
        return {"layers": self.layers, "histogram": self.histogram, "divergences": len(self.divergences), "fix": fix}


def _file_candidate_error(out: Path, candidate: str) -> DiverfuzzError:
    return DiverfuzzError(
        f"DIR={str(out)!r}: the candidate is the model file {candidate!r}, which explain cannot rebuild with single "
        "layers restored (per-tensor errors are read only for a float and an int8 file that are both .onnx or both "
        ".tflite); explain attributes "
        "counterparts built with --precision SPEC (int8-static, onnx-int8, torchao specs, emulated formats, "
        "per-layer policies): rerun the campaign with --precision"
    )


#: Model files whose tensors explain can read and pair by name.
TENSOR_FILES = (".onnx", ".tflite")


def _model_files(stored_config: dict) -> tuple[str, str] | None:
    """``(model, candidate)`` when both are ``.onnx`` or both ``.tflite`` files (per-tensor errors), else None."""
    model, candidate = str(stored_config.get("model") or ""), str(stored_config.get("candidate") or "")
    both = any(model.endswith(suffix) and candidate.endswith(suffix) for suffix in TENSOR_FILES)
    return (model, candidate) if both else None


def _tensor_errors_only(campaign, stored, ids) -> Explanation:
    """For a float and an int8 model file (both ``.onnx`` or both ``.tflite``): per divergence the error of
    every tensor they share by name (no culprits, no fix).

    ``.onnx``: :func:`diverfuzz.models.precision.onnx_runtime.onnx_tensor_errors`
    (ONNX Runtime's ``qdq_loss_debug``); ``.tflite``:
    :func:`diverfuzz.models.runtimes.litert.tflite_tensor_errors` (LiteRT with
    every intermediate tensor kept, quantized tensors dequantized).
    """
    config = campaign.config
    with torch_threads(config.threads):
        workload = build_workload(campaign)
    x = workload.x
    seeds = np.stack([np.ascontiguousarray(x[s.seed_index], np.float32) for s in stored]) if stored else x[:0]
    mutants = np.stack([s.chain.apply(seed) for s, seed in zip(stored, seeds)]) if stored else x[:0]
    reference = workload.pair.reference
    if isinstance(reference, Preprocessed):  # the files take what the preprocessing makes
        with torch.no_grad():
            seeds, mutants = (reference.preprocess(torch.from_numpy(a)).numpy() for a in (seeds, mutants))
    if str(config.model).endswith(".tflite"):  # pairs names even without inputs
        on_input = tflite_tensor_errors(config.model, config.candidate, mutants)
        on_seed = tflite_tensor_errors(config.model, config.candidate, seeds)
    else:
        on_input = onnx_tensor_errors(config.model, config.candidate, mutants) if stored else {}
        on_seed = onnx_tensor_errors(config.model, config.candidate, seeds) if stored else {}
    tensors = [t for t in on_input if t in on_seed]
    divergences = [
        {
            "id": i, "seed_index": s.seed_index, "culprits": [], "single": [], "resolved": False, "reproduced": None,
            "layer_errors": {t: {"input": float(on_input[t][d]), "seed": float(on_seed[t][d])} for t in tensors},
        }
        for d, (i, s) in enumerate(zip(ids, stored))
    ]
    cannot = (
        f"the candidate is the model file {config.candidate!r}, which explain cannot rebuild with single layers "
        "restored: no culprits and no fix; "
    )
    if tensors:
        note = cannot + f"layer_errors hold the error of the {len(tensors)} tensors it shares by name with {config.model!r}"
    else:
        note = cannot + (
            f"no tensor it computes shares a name (and shape) with one of {config.model!r}, so there are no "
            "per-tensor errors (pairing tensors by position or shape is not sound: quantizers insert, fuse and "
            "drop operators)"
        )
        if not stored and not str(config.model).endswith(".tflite"):
            note = cannot + "no divergence is stored, so no per-tensor error was measured"
    return Explanation(
        precision=str(config.candidate), layers=tensors, divergences=divergences, histogram={}, fix=None,
        seconds=0.0, campaign_seconds=None, builds=0, notes=[note],
    )


def _rebuild(campaign) -> tuple[Workload, np.ndarray]:
    """The campaign's reference and seeds (the counterpart is not built: explain builds its own), and calibration set."""
    config = campaign.config
    if campaign.origin.get("by") == BY_CHECK:
        workload = build_workload(campaign)
        with np.load(config.data, allow_pickle=False) as npz:
            calibration = npz["calibration"] if "calibration" in npz.files else workload.x
        return workload, calibration
    seeds = load_seeds(config)
    reference, description = load_reference(config, seeds)
    pair = ModelPair(reference, reference, labels=(description, description))
    return Workload(pair, seeds.x, seeds.y, {"model": description}), seeds.calibration


def explain(
    out: str | Path,
    *,
    workload: Workload | None = None,
    calibration: np.ndarray | None = None,
    target: float = 0.9,
    max_weights: float = 1.0,
    write: bool = True,
) -> Explanation:
    """Attribute every divergence stored in ``out`` to layers and find the campaign-level fix.

    Parameters
    ----------
    out : path-like
        A campaign folder (``diverfuzz run --out DIR`` or ``check(report_dir=...)``).
    workload : Workload, optional
        The campaign's models and seeds when they are in memory (``check()``);
        default: rebuilt from the stored config, as replay does.
    calibration : ndarray, float32, (N, *input_shape), optional
        The calibration batch the counterpart was built with (with ``workload``;
        default: the seeds).
    target : float, optional
        Share of the stored divergences the fix must remove, in ``(0, 1]`` (default 0.9).
    max_weights : float, optional
        Largest share of the model's weights the fix may keep at float32, in
        ``(0, 1]`` (default 1: no limit). When no set of layers within it
        reaches ``target``, the fix is the set within it that removes the
        most (``fix["reached"]`` False).
    write : bool, optional
        Write :data:`EXPLAIN_JSON` and the policy file :data:`FIX_POLICY` into
        ``out`` (default True; the policy file is written either way, since
        the fix is measured by building the counterpart from it).

    Returns
    -------
    Explanation

    Raises
    ------
    DiverfuzzError
        One line: no campaign in ``out``; a candidate given as a model file;
        models given in memory without ``workload``; a spec whose layers
        cannot be restored (``fp16``, ``mca:...``, ...).
    """
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0.0 < target <= 1.0:
        raise DiverfuzzError(f"--target={target!r} must be a share in (0, 1], e.g. 0.9")
    if isinstance(max_weights, bool) or not isinstance(max_weights, (int, float)) or not 0.0 < max_weights <= 1.0:
        raise DiverfuzzError(f"--max-weights={max_weights!r} must be a share in (0, 1], e.g. 0.25")
    started = time.perf_counter()
    out = Path(out)
    corpus, stored_config = Corpus.of_campaign(out)
    files = _model_files(stored_config)
    with corpus:
        if stored_config.get("candidate") and files is None:
            raise _file_candidate_error(out, str(stored_config["candidate"]))
        roles = () if workload is not None else ("reference", "data") if files is None else ROLES
        campaign = open_stored(out, corpus, stored_config, roles=roles)
        stored = corpus.stored()
        ids = [i for i, _ in corpus.divergences()]
        summary = corpus.get_meta("wall_seconds")
    config = campaign.config
    if files is not None:
        result = _tensor_errors_only(campaign, stored, ids)
        result.seconds = round(time.perf_counter() - started, 3)
        result.campaign_seconds = None if summary is None else round(float(summary), 3)
        if write:
            atomic_write_text(out / EXPLAIN_JSON, json.dumps(result.to_dict(), indent=2))
        return result
    with torch_threads(config.threads):
        if workload is None:
            workload, calibration = _rebuild(campaign)
        elif calibration is None:
            calibration = workload.x
        reference = workload.pair.reference
        counterparts = PartialCounterparts(config.precision, reference, calibration, threads=config.threads)
        result = _explain(out, workload, counterparts, stored, ids, target, max_weights, config)
    result.seconds = round(time.perf_counter() - started, 3)
    result.campaign_seconds = None if summary is None else round(float(summary), 3)
    result.notes = list(campaign.notes)
    if write:
        atomic_write_text(out / EXPLAIN_JSON, json.dumps(result.to_dict(), indent=2))
        with Corpus.in_folder(out) as corpus:
            corpus.set_meta("explain", result.section())
            write_reports(build_report(corpus), corpus, workload.x, out, ("json", "html"))
    return result


def _explain(
    out: Path, workload: Workload, counterparts: PartialCounterparts, stored, ids, target, max_weights, config
) -> Explanation:
    reference, layers = workload.pair.reference, counterparts.layers
    x = workload.x
    seeds = np.stack([np.ascontiguousarray(x[s.seed_index], np.float32) for s in stored]) if stored else x[:0]
    mutants = np.stack([s.chain.apply(seed) for s, seed in zip(stored, seeds)]) if stored else x[:0]
    ref_logits = batched_logits(reference, mutants) if stored else np.zeros((0, 1))
    labels = ref_logits.argmax(axis=1)
    logits_of: dict[frozenset, np.ndarray] = {}

    def restore(keep: frozenset) -> np.ndarray:
        if keep not in logits_of:
            logits_of[keep] = batched_logits(counterparts.build(keep), mutants)
        return logits_of[keep]

    attributions = attribute(restore, layers, labels) if stored else []
    errors = _layer_errors(reference, counterparts, mutants, seeds) if stored else []
    divergences = [
        {
            "id": i, "seed_index": s.seed_index, "culprits": a.culprits, "single": a.single, "resolved": a.resolved,
            "reproduced": a.diverges, "layer_errors": e,
        }
        for i, s, a, e in zip(ids, stored, attributions, errors)
    ]
    histogram = culprit_histogram(attributions, layers)
    costs = layer_costs(reference, x[0])
    total = sum(c.params for c in costs.values())
    fix = cover_fix(
        attributions, restore, layers, labels, weights={n: c.params for n, c in costs.items()}, target=target,
        max_weight=None if max_weights >= 1.0 else max_weights * total,
    )
    fixed_report = _measure_fix(out, workload, counterparts, stored, fix.layers, costs, config)
    fixed_report.update(removed_restored=fix.removed, steps=fix.steps, target=target, reached=fix.reached,
                        max_weights=max_weights)
    return Explanation(
        precision=config.precision, layers=layers, divergences=divergences, histogram=histogram, fix=fixed_report,
        seconds=0.0, campaign_seconds=None, builds=len(logits_of),
    )


def _layer_errors(reference, counterparts: PartialCounterparts, mutants: np.ndarray, seeds: np.ndarray) -> list[dict]:
    """Per input, per layer ``{"input": error on the mutant, "seed": error on its seed}`` (relative L2).

    Activations are read by hooks or the exported graph
    (:func:`diverfuzz.models.activations.layer_outputs`); for ``onnx-int8``,
    from the QDQ file and the float file it was quantized from
    (:meth:`PartialCounterparts.onnx_layer_errors`).
    """
    layers = counterparts.layers
    on_input = counterparts.onnx_layer_errors(mutants)
    if on_input is not None:
        on_seed = counterparts.onnx_layer_errors(seeds)
    else:
        counterpart = counterparts.build()
        on_input = relative_errors(
            layer_outputs(counterpart, mutants, layers), layer_outputs(reference, mutants, layers)
        )
        on_seed = relative_errors(layer_outputs(counterpart, seeds, layers), layer_outputs(reference, seeds, layers))
    return [
        {
            name: {"input": float(on_input[name][d]), "seed": float(on_seed[name][d])}
            for name in layers if name in on_input and name in on_seed
        }
        for d in range(len(mutants))
    ]


def _measure_fix(
    out: Path, workload: Workload, counterparts: PartialCounterparts, stored, keep: list[str], costs, config
) -> dict:
    """Write the fix as a policy file, build the counterpart from it, replay and measure its cost."""
    policy_path = out / FIX_POLICY
    atomic_write_text(policy_path, json.dumps(fix_policy(config.precision, keep), indent=2))
    reference = workload.pair.reference
    fixed = counterparts.build_policy(str(policy_path))
    removed = None
    if stored:
        pair = ModelPair(reference, fixed, labels=("reference", "fixed"))
        outcomes = replay_stored(pair, workload.x, stored, config.validity)
        removed = float(np.mean([o.reference_label == o.candidate_label for o in outcomes]))
    total_params = sum(c.params for c in costs.values()) or 1
    total_macs = sum(c.macs for c in costs.values())
    accuracy = None
    if workload.y is not None:
        y = np.asarray(workload.y)
        accuracy = {
            "reference": float((batched_logits(reference, workload.x).argmax(axis=1) == y).mean()),
            "before": float((batched_logits(counterparts.build(), workload.x).argmax(axis=1) == y).mean()),
            "after": float((batched_logits(fixed, workload.x).argmax(axis=1) == y).mean()),
        }
    return {
        "policy": str(policy_path),
        "layers": list(keep),
        "removed": removed,
        "weights_share": sum(costs[n].params for n in keep) / total_params,
        "macs_share": sum(costs[n].macs for n in keep) / total_macs if total_macs else None,  # None: not measured
        "accuracy": accuracy,
        "precision": "float32",
    }


__all__ = ["EXPLAIN_JSON", "FIX_POLICY", "Explanation", "explain"]
