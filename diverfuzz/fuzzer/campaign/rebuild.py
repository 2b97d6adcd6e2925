"""Rebuild a stored campaign: find its files, know how its models were given, check they are the same.

``diverfuzz replay``, ``evaluate-supervisors``, ``report`` and ``run --resume``
rebuild a campaign from what its corpus stores. The driver stores three
records for them (besides the config):

- the config with every file path made absolute (:func:`absolute_config`), so
  a command run from another folder finds the files;
- ``paths``: each file's absolute path and its path relative to the output
  folder (:func:`path_record`), so an output folder moved together with its
  files is found again (:func:`locate` tries both and says which it used);
- ``origin``: how each of the reference, the candidate and the data was
  given (``"config"``: rebuilt from the config, i.e. factories, model
  files, precision specs, data files, bundled examples; ``"object"``:
  an object handed to ``check()`` or ``run_campaign(workload=...)``, which no
  command can rebuild, so :func:`require_rebuildable` refuses it in one line).

The models' fingerprints are stored too; :func:`model_changes` names a model
whose file (or factory) changed since the campaign, the reason its
divergences would not reproduce.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig, flag
from diverfuzz.fuzzer.campaign.storage.corpus import Corpus
from diverfuzz.fuzzer.campaign.workload import (
    CONFIG_ORIGIN,
    IN_MEMORY,
    ROLES,
    Workload,
    prepare,
    probe_models,
)
from diverfuzz.models.loading import load_model, validate_inputs
from diverfuzz.models.pair import ModelPair
from diverfuzz.models.precision.build import build_counterpart
from diverfuzz.models.runtimes import is_model_file

#: Config fields that may name files (``calibration`` when the config has it).
PATH_FIELDS = ("model", "candidate", "data", "precision", "calibration")
#: ``origin`` of a workload handed to ``run_campaign`` without one: nothing is known to rebuild it.
MEMORY_ORIGIN = {role: IN_MEMORY for role in ROLES}
#: ``origin["by"]`` of a folder written by ``check()`` (its seeds are stored in :data:`CHECK_SEEDS`).
BY_CHECK = "check()"
#: The seeds (``x``, ``y``) and calibration set (``calibration``) ``check()`` stores in its report folder.
CHECK_SEEDS = "seeds.npz"
#: Largest seeds (plus calibration set) ``check()`` stores, in bytes.
CHECK_SEEDS_LIMIT = 256 << 20


def _split(name: str, value: object) -> tuple[str, str] | None:
    """``(path, rest)`` with ``value == path + rest`` when field ``name`` names a file, else None."""
    if not isinstance(value, str) or not value:
        return None
    if name in ("model", "candidate"):
        if is_model_file(value):
            return value, ""
        path, sep, func = value.rpartition(":")
        if sep and path.endswith(".py") and func:
            return path, sep + func
        return None
    if name == "precision":
        return (value, "") if value.lower().endswith((".json", ".toml")) else None
    return value, ""


def _path_fields(config: CampaignConfig | dict) -> list[str]:
    names = set(config) if isinstance(config, dict) else {f.name for f in fields(config)}
    return [name for name in PATH_FIELDS if name in names]


def absolute_config(config: CampaignConfig) -> CampaignConfig:
    """``config`` with every file path absolute (relative ones are read from the current folder)."""
    changes = {}
    for name in _path_fields(config):
        split = _split(name, getattr(config, name))
        if split is not None and not os.path.isabs(split[0]):
            changes[name] = os.path.abspath(split[0]) + split[1]
    return replace(config, **changes) if changes else config


def path_record(config: CampaignConfig, out: str | Path) -> dict:
    """``{field: {"absolute": path, "relative": path relative to out}}`` of every file ``config`` names."""
    record = {}
    base = os.path.abspath(out)
    for name in _path_fields(config):
        split = _split(name, getattr(config, name))
        if split is None:
            continue
        absolute = os.path.abspath(split[0])
        try:
            relative = os.path.relpath(absolute, base)
        except ValueError:  # another drive (Windows): no relative path
            relative = None
        record[name] = {"absolute": absolute, "relative": relative}
    return record


def locate(stored: dict, record: dict | None, out: str | Path, *, strict: bool = True) -> tuple[dict, list[str]]:
    """The stored config (a dict) with each file found: at its absolute path, else relative to ``out``.

    Returns the config and, for the files found relative to ``out`` only (the
    folder moved with them), ``--flag=path`` items. With ``strict``, a file at
    neither place is a one-line :class:`DiverfuzzError` naming both; without,
    it is left as stored.
    """
    config = dict(stored)
    moved = []
    for name, where in (record or {}).items():
        split = _split(name, config.get(name))
        if split is None or os.path.exists(split[0]):
            continue
        candidate = None
        if where.get("relative") is not None:
            candidate = os.path.normpath(os.path.join(os.path.abspath(out), where["relative"]))
        if candidate is not None and os.path.exists(candidate):
            config[name] = candidate + split[1]
            moved.append(f"{flag(name)}={candidate!r}")
        elif strict:
            raise DiverfuzzError(
                f"{flag(name)}: the campaign's file is neither at {split[0]!r} (its stored absolute path) nor at "
                f"{candidate!r} (its stored path relative to {str(out)!r}); put the file back at one of them"
            )
    return config, moved


def moved_line(moved: list[str], out: str | Path) -> str:
    """The one line saying which files were found relative to ``out`` instead of at their stored absolute paths."""
    return (
        f"paths: not at their stored absolute paths, so found relative to {str(out)!r} (the folder moved with them): "
        + ", ".join(moved)
    )


def stored_origin(corpus: Corpus) -> dict:
    """How the campaign's models and data were given (see the module docstring).

    Corpora written before ``origin`` was stored: folders written by ``check()``
    are recognised by what their config and workload say; others were built
    from their config.
    """
    origin = corpus.get_meta("origin")
    if origin is not None:
        return origin
    config = corpus.get_meta("config") or {}
    workload = corpus.get_meta("workload") or {}
    if str(config.get("candidate") or "").endswith(" given to check()") or str(workload.get("data") or "").endswith(
        " given to check()"
    ):
        return {**MEMORY_ORIGIN, "by": BY_CHECK}
    return dict(CONFIG_ORIGIN)


def require_rebuildable(origin: dict, config: dict, out: str | Path, roles: tuple[str, ...] = ROLES) -> None:
    """Refuse, in one line saying why and what to do, a campaign whose ``roles`` were given in memory."""
    missing = [role for role in roles if origin.get(role) == IN_MEMORY]
    if not missing:
        return
    by_check = origin.get("by") == BY_CHECK
    shown = {"reference": config.get("model"), "candidate": config.get("candidate")}
    what = ", ".join(
        ("the seeds" if role == "data" else f"the {role}") + (f" ({shown[role]})" if shown.get(role) else "")
        for role in missing
    )
    where = "to check()" if by_check else "to run_campaign(workload=...)"
    if missing == ["data"]:
        fix = (
            f"check() stores its seeds ({CHECK_SEEDS}) up to {CHECK_SEEDS_LIMIT >> 20} MiB only; use them in "
            "Python, where they are: diverfuzz.fuzzer.campaign.replay.replay_stored(ModelPair(reference, "
            "candidate), seeds, Corpus.in_folder(DIR).stored(), validity)"
            if by_check
            else "run the campaign with its seeds in a file (--data FILE)"
        )
    elif by_check:
        fix = (
            "replay it in Python, where the models are: diverfuzz.fuzzer.campaign.replay.replay_stored("
            "ModelPair(reference, candidate), seeds, Corpus.in_folder(DIR).stored(), validity), or give check() "
            "model files (reference='model.onnx', candidate='int8-static' or 'candidate.onnx') so that its report "
            "folder replays from the command line"
        )
    else:
        fix = (
            "replay it from Python with diverfuzz.fuzzer.campaign.replay.replay(DIR, workload=...), "
            "or run the campaign from files (--model/--candidate FILE.py:FUNC or model files, --data FILE)"
        )
    objects = "an in-memory object" if len(missing) == 1 else "in-memory objects"
    raise DiverfuzzError(
        f"DIR={str(out)!r}: {what} {'was' if len(missing) == 1 else 'were'} given {where} as {objects}, "
        f"which no command can rebuild; {fix}"
    )


@dataclass
class StoredCampaign:
    """A stored campaign, ready to rebuild: its config (files located), origin, fingerprints.

    ``notes`` holds the lines to show the user (files found relative to the
    folder rather than at their stored absolute paths).
    """

    out: Path
    config: CampaignConfig
    origin: dict
    fingerprints: dict | None
    notes: list[str] = field(default_factory=list)


def open_stored(
    out: str | Path, corpus: Corpus, stored_config: dict, *, roles: tuple[str, ...] = ROLES
) -> StoredCampaign:
    """Check that ``roles`` can be rebuilt, locate the campaign's files and read its config.

    Raises a one-line :class:`DiverfuzzError` for in-memory models or data
    (:func:`require_rebuildable`) and for files found at neither stored place
    (:func:`locate`; only when ``roles`` is not empty).
    """
    out = Path(out)
    origin = stored_origin(corpus)
    require_rebuildable(origin, stored_config, out, roles)
    # Without roles to rebuild no file is needed: one that is gone is left as stored.
    located, moved = locate(stored_config, corpus.get_meta("paths"), out, strict=bool(roles))
    notes = [moved_line(moved, out)] if moved else []
    return StoredCampaign(out, CampaignConfig.from_dict(located), origin, corpus.get_meta("fingerprints"), notes)


def build_workload(stored: StoredCampaign) -> Workload:
    """The campaign's models and data, built as the campaign built them.

    A ``check()`` folder is rebuilt as ``check()`` builds its pair (model
    files loaded, a spec's counterpart calibrated on the stored calibration
    set, the stored seeds); any other from its config
    (:func:`diverfuzz.fuzzer.campaign.workload.prepare`).
    """
    if stored.origin.get("by") == BY_CHECK:
        return _check_workload(stored.config)
    return prepare(stored.config)


def _check_workload(config: CampaignConfig) -> Workload:
    """The workload ``check()`` built for the folder whose config is ``config`` (see :func:`build_workload`)."""
    with np.load(config.data, allow_pickle=False) as npz:
        x, y = validate_inputs(npz["x"], npz["y"] if "y" in npz.files else None, name=f"--data={config.data!r}")
        calibration = npz["calibration"] if "calibration" in npz.files else None
    # As check() loads them: on the CPU, default threads.
    reference = load_model(config.model, option="reference")
    if config.candidate is not None:
        candidate = load_model(config.candidate, option="candidate")
        description = {"candidate": config.candidate}
    else:
        candidate = build_counterpart(config.precision, reference, x if calibration is None else calibration)
        description = {"candidate": f"{config.precision} counterpart of the reference"}
    description.update(model=config.model, data=f"{len(x)} seeds given to check()")
    pair = ModelPair(reference, candidate, labels=("reference", "candidate"))
    workload = Workload(pair, x, y, description, origin={**CONFIG_ORIGIN, "by": BY_CHECK})
    probe_models(workload)
    return workload


def model_changes(stored: StoredCampaign, workload: Workload) -> list[str]:
    """One line per model whose fingerprint differs from the one the campaign stored (empty when none)."""
    if not stored.fingerprints:
        return []
    now = workload.pair.fingerprints()
    config = stored.config
    lines = []
    for role in ("reference", "candidate"):
        then = stored.fingerprints.get(role)
        if then is None or then == now.get(role):
            continue
        if role == "reference":
            source = config.model or f"the bundled {config.example} model"
        else:
            source = config.candidate or f"{config.precision} counterpart of the reference"
        lines.append(
            f"the {role} model ({source}) is not the one the campaign ran with (fingerprint {now.get(role)} "
            f"now, {then} then): its file or factory changed since"
        )
    return lines
