"""The ``diverfuzz`` command line: ``run`` a campaign, ``replay`` its divergences."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from diverfuzz import __version__
from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.fuzzer.campaign.config import CampaignConfig, config_options, flag
from diverfuzz.fuzzer.campaign.config_file import load_config_file

# Commands import what they run (torch, DEAP, rich) inside their functions:
# those are heavy dependencies, and `diverfuzz --help` or a bad flag must
# answer at once. No import here dodges a cycle: this module is the top layer.

EXIT_OK = 0
EXIT_NOT_REPRODUCED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def add_run_options(add_argument) -> None:
    """Options of ``diverfuzz run``: every campaign setting from the one schema
    (:func:`diverfuzz.fuzzer.campaign.config.config_options`), then how to run it.

    Campaign options default to ``argparse.SUPPRESS``: an option absent from
    the namespace was not given, so ``--config`` fills it, and otherwise
    :class:`~diverfuzz.fuzzer.campaign.config.CampaignConfig`'s default applies.
    """
    for name, spec, default in config_options():
        kwargs: dict = {"dest": name, "default": argparse.SUPPRESS}
        shown = "" if default is None or spec.kind == "bool" else f" (default {default!r})"
        if spec.kind == "bool":
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = {"int": int, "float": float}.get(spec.kind, str)
            if spec.choices is not None:
                kwargs["choices"] = spec.choices
            if spec.metavar is not None:
                kwargs["metavar"] = spec.metavar
        add_argument(flag(name), help=spec.help + shown, **kwargs)
    add_argument("--out", default="diverfuzz-out", metavar="DIR", help="output folder (default ./diverfuzz-out)")
    add_argument("--resume", action="store_true", help="continue the campaign in --out, keeping its divergences")
    add_argument(
        "--force", action="store_true", help="replace a campaign already in --out instead of refusing to overwrite it"
    )
    add_argument("--quiet", action="store_true", help="no progress bar")
    add_argument(
        "--config",
        metavar="FILE",
        help="campaign options from a .toml or .json file (option names as keys); flags given here override it",
    )


def add_sweep_options(add_argument) -> None:
    """Options of ``diverfuzz sweep`` (see :func:`diverfuzz.fuzzer.sweep.run_sweep`)."""
    add_argument("--model", metavar="FILE.py:FUNC", help="reference model factory (default: bundled digits CNN)")
    add_argument("--data", metavar="FILE.npz", help="inputs x (and labels y) (default: digits test split)")
    add_argument("--out", default="diverfuzz-sweep", metavar="DIR", help="output folder (default diverfuzz-sweep)")
    add_argument("--threshold", type=float, default=0.99, help="agreement a recommended format keeps (default 0.99)")
    add_argument("--fuzz-seeds", type=int, default=10, metavar="N", help="seeds per format's fuzz campaign (default 10)")
    add_argument("--fuzz-budget", type=int, default=100, metavar="Q", help="queries per seed (default 100)")
    add_argument("--rng-seed", type=int, default=0, metavar="S", help="seed of every campaign (default 0)")
    add_argument("--layer-format", default="float:e4m2", metavar="SPEC", help="format for per-layer sensitivity (default float:e4m2)")
    add_argument("--quick", action="store_true", help="a handful of formats (smoke test)")
    add_argument(
        "--normalize",
        action="store_true",
        help="min-max scale --data into [0, 1] (one min and max over the whole array) instead of refusing it",
    )
    add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diverfuzz",
        description="Find natural inputs where a model and its reduced-precision counterpart disagree.",
    )
    parser.add_argument("--version", action="version", version=f"diverfuzz {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or --resume) a fuzz campaign")
    add_run_options(run.add_argument)
    rep = sub.add_parser("replay", help="re-execute every divergence recorded in DIR")
    rep.add_argument("dir", metavar="DIR")
    rep.add_argument("--id", metavar="N[,N...]", help="replay only these divergence ids")
    sup = sub.add_parser(
        "evaluate-supervisors",
        help="score uncertainty supervisors on the divergence-inducing inputs of the campaign in DIR",
    )
    sup.add_argument("dir", metavar="DIR")
    sup.add_argument("--false-alarm", type=float, default=0.05, metavar="RATE", help="calibration false-alarm rate (default 0.05)")
    swp = sub.add_parser("sweep", help="sweep number formats: lowest precision that keeps the model's predictions")
    add_sweep_options(swp.add_argument)
    ren = sub.add_parser("report", help="re-render the reports of the campaign in DIR from its corpus")
    ren.add_argument("dir", metavar="DIR")
    ren.add_argument(
        "--format",
        default="html,json,md,junit",
        metavar="F[,F...]",
        help="formats to write: html, json, md, junit (default: all)",
    )
    return parser


def _apply_config_file(args: argparse.Namespace) -> None:
    """Fill every option not given on the command line from ``--config``."""
    argv = getattr(args, "argv", [])
    fields = {name for name, _, _ in config_options()}
    for name, value in load_config_file(args.config).items():
        if name in fields:  # campaign options are absent from args unless given
            given = hasattr(args, name)
        else:
            given = any(tok == flag(name) or tok.startswith(flag(name) + "=") for tok in argv)
        if not given:
            setattr(args, name, value)


def _config_from_args(args: argparse.Namespace):
    given = {name: getattr(args, name) for name, _, _ in config_options() if hasattr(args, name)}
    if given.get("candidate") and given.get("precision"):
        raise DiverfuzzError("--candidate and --precision exclude each other; give one")
    return CampaignConfig(**given)


class LogProgress:
    """Progress for logs without a terminal (CI): one line every ``interval`` seconds.

    A progress bar draws nothing in a CI log, which then stays silent for the
    whole campaign; this prints seeds done, divergences and queries/s instead,
    and always the last seed's line.
    """

    def __init__(self, interval: float = 5.0, stream=None) -> None:
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self.last = None
        self.first_queries = None

    def __call__(self, done: int, total: int, found: int, queries: int) -> None:
        now = time.monotonic()
        if self.first_queries is None:  # queries already done by a resumed campaign
            self.first_queries = queries
        if done < total and self.last is not None and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = (queries - self.first_queries) / elapsed
        print(
            f"seeds {done}/{total}, {found} divergences, {queries} queries ({rate:.0f} queries/s), {elapsed:.0f} s",
            file=self.stream,
            flush=True,
        )


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from diverfuzz.entry.tables import campaign_table
    from diverfuzz.fuzzer.campaign.driver import REPORT_HTML, REPORT_JSON, run_campaign

    if args.config:
        _apply_config_file(args)
    config = _config_from_args(args)
    out = Console()
    err = Console(stderr=True)
    progress = Progress(
        TextColumn("fuzzing seeds"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[found]} divergent"),
        TimeElapsedColumn(),
        console=err,
        disable=args.quiet,
        transient=True,
    )
    task = progress.add_task("seeds", total=None, found=0)
    log = None if args.quiet or err.is_terminal else LogProgress()

    def update(done: int, total: int, found: int, queries: int) -> None:
        progress.update(task, completed=done, total=total, found=found)
        if log is not None:
            log(done, total, found, queries)

    with progress:
        if not args.quiet:
            err.print("preparing models and seeds ...")
        result = run_campaign(config, args.out, resume=args.resume, force=args.force, progress=update)
    out.print(campaign_table(result.report))
    out.print(f"report: {Path(args.out) / REPORT_HTML}  (JSON: {Path(args.out) / REPORT_JSON})")
    if result.interrupted:
        err.print("interrupted: everything found so far is saved; continue with --resume")
        return EXIT_INTERRUPTED
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from diverfuzz.fuzzer.campaign.replay import replay

    ids = None
    if args.id:
        try:
            ids = {int(v) for v in args.id.split(",") if v.strip()}
        except ValueError:
            raise DiverfuzzError(f"--id={args.id!r}: expected divergence ids like 3 or 3,7") from None
    result = replay(args.dir, ids=ids)
    for line in result.failures:
        print(f"not reproduced: {line}")
    print(f"{result.reproduced}/{result.total} divergences reproduce")
    return EXIT_OK if result.ok else EXIT_NOT_REPRODUCED


def cmd_evaluate_supervisors(args: argparse.Namespace) -> int:
    from rich.console import Console

    from diverfuzz.entry.tables import supervisors_table
    from diverfuzz.supervisors.campaign import SUPERVISORS_FILE, evaluate_campaign

    result = evaluate_campaign(args.dir, false_alarm=args.false_alarm)
    Console().print(supervisors_table(result.scores))
    for line in result.absent:
        print(f"absent: {line}")
    print(f"written: {Path(args.dir) / SUPERVISORS_FILE}")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from diverfuzz.entry.tables import recommendation_text, sweep_tables
    from diverfuzz.fuzzer.sweep import run_sweep

    err = Console(stderr=True)
    progress = Progress(
        TextColumn("sweeping formats"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(), console=err, disable=args.quiet, transient=True,
    )
    task = progress.add_task("formats", total=None, what="")
    with progress:
        result = run_sweep(
            args.out, model=args.model, data=args.data, threshold=args.threshold, fuzz_seeds=args.fuzz_seeds,
            fuzz_budget=args.fuzz_budget, rng_seed=args.rng_seed, quick=args.quick, layer_format=args.layer_format,
            normalize=args.normalize,
            progress=lambda done, total, what: progress.update(task, completed=done, total=total, what=what),
        )
    out = Console()
    for table in sweep_tables(result):
        out.print(table)
    out.print("recommendation (smallest format keeping agreement on clean and fuzzed inputs):")
    out.print(recommendation_text(result.recommendation), markup=False)
    out.print(f"written: {Path(args.out)}/sweep.json, layers.json, recommendation.json, agreement_vs_mantissa.png, heatmap_exp_man.png")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from diverfuzz.fuzzer.campaign.rerender import FORMATS, rerender

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise DiverfuzzError(f"--format={args.format!r}: choose from {', '.join(FORMATS)}")
    for path in rerender(args.dir, formats):
        print(path)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "sweep":
            return cmd_sweep(args)
        if args.command == "evaluate-supervisors":
            return cmd_evaluate_supervisors(args)
        return cmd_replay(args)
    except DiverfuzzError as exc:
        print(f"diverfuzz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("diverfuzz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
