"""The ``diverfuzz`` command line: ``run`` a campaign, ``replay`` its divergences."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from fuzzer.errors import DiverfuzzError

# Commands import what they run (torch, DEAP, rich) inside their functions:
# those are heavy dependencies, and `diverfuzz --help` or a bad flag must
# answer at once. No import here dodges a cycle: this module is the top layer.

EXIT_OK = 0
EXIT_NOT_REPRODUCED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def add_run_options(add_argument) -> None:
    """Options of ``diverfuzz run`` (one definition, reusable by other front ends)."""
    from relations import DEFAULT_VALIDITY

    add_argument("--model", metavar="FILE.py:FUNC", help="reference model factory (default: bundled digits CNN)")
    add_argument("--candidate", metavar="FILE.py:FUNC", help="counterpart model factory (excludes --precision)")
    add_argument(
        "--precision",
        metavar="NAME",
        help="build the counterpart from the reference: a spec such as int8-static (default), int8-dynamic, "
        "int8-weight, int4-weight, fp16, bf16, float:e4m3, float:e5m2:sr, fixed:16.14:sr, int:4, binary-weight, "
        "ternary-weight, mca:t=11, approx:mitchell, or a per-layer policy .json/.toml",
    )
    add_argument("--data", metavar="FILE.npz", help="seeds: x float32 (N, C, H, W) in [0, 1], optional y")
    add_argument("--seeds", type=int, default=100, metavar="N", help="seeds to fuzz (default 100)")
    add_argument("--budget", type=int, default=500, metavar="Q", help="model-pair queries per seed (default 500)")
    add_argument(
        "--strategy", default="genetic", choices=("genetic", "random", "diffchaser", "dflare"), help="search strategy"
    )
    add_argument(
        "--mode",
        default="first",
        choices=("first", "many"),
        help="first: stop a seed at its first divergence (default); many: search to the budget, keep distinct ones",
    )
    add_argument("--rng-seed", type=int, default=0, metavar="S", help="seed of every random choice (default 0)")
    add_argument("--validity", default=DEFAULT_VALIDITY, metavar="EXPR", help=f"mutant constraint (default {DEFAULT_VALIDITY!r})")
    add_argument("--population", type=int, default=10, metavar="P", help="GA population / random batch (default 10)")
    add_argument(
        "--example",
        default="digits",
        choices=("digits", "spectral", "signal"),
        help="bundled model/data for what --model/--data leave out: digits (real images), "
        "spectral, signal (both synthetic)",
    )
    add_argument(
        "--defense",
        choices=("pixeldp", "distillation"),
        help="fuzz the bundled digits model defended by PixelDP or defensive distillation",
    )
    add_argument("--kind", choices=("image", "spectral", "signal"), help="input kind (default: inferred from shape)")
    add_argument("--relations", metavar="NAME,...", help="relations to search, comma-separated (default: all of the kind)")
    add_argument("--threads", type=int, default=1, metavar="T", help="torch intra-op threads (default 1)")
    add_argument(
        "--backend",
        default="local",
        choices=("local", "process", "ray"),
        help="where seeds run: local (default, this process), process (local process pool), "
        "ray (Ray actors; pip install 'diverfuzz[ray]'); results do not depend on it",
    )
    add_argument("--workers", type=int, default=1, metavar="N", help="worker processes / Ray actors (default 1)")
    add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster (auto, HOST:PORT, ray://HOST:PORT) instead of starting a local one",
    )
    add_argument("--out", default="diverfuzz-out", metavar="DIR", help="output folder (default ./diverfuzz-out)")
    add_argument("--resume", action="store_true", help="continue the campaign in --out, keeping its divergences")
    add_argument("--quiet", action="store_true", help="no progress bar")
    add_argument(
        "--config",
        metavar="FILE",
        help="campaign options from a .toml or .json file (option names as keys); flags given here override it",
    )
    add_argument(
        "--normalize",
        action="store_true",
        help="min-max scale --data into [0, 1] (one min and max over the whole array) instead of refusing it",
    )


def add_sweep_options(add_argument) -> None:
    """Options of ``diverfuzz sweep`` (see :func:`fuzzer.entry.sweep.run_sweep`)."""
    add_argument("--model", metavar="FILE.py:FUNC", help="reference model factory (default: bundled digits CNN)")
    add_argument("--data", metavar="FILE.npz", help="inputs x (and labels y) (default: digits test split)")
    add_argument("--out", default="diverfuzz-sweep", metavar="DIR", help="output folder (default diverfuzz-sweep)")
    add_argument("--threshold", type=float, default=0.99, help="agreement a recommended format keeps (default 0.99)")
    add_argument("--fuzz-seeds", type=int, default=10, metavar="N", help="seeds per format's fuzz campaign (default 10)")
    add_argument("--fuzz-budget", type=int, default=100, metavar="Q", help="queries per seed (default 100)")
    add_argument("--rng-seed", type=int, default=0, metavar="S", help="seed of every campaign (default 0)")
    add_argument("--layer-format", default="float:e4m2", metavar="SPEC", help="format for per-layer sensitivity (default float:e4m2)")
    add_argument("--quick", action="store_true", help="a handful of formats (smoke test)")
    add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diverfuzz",
        description="Find natural inputs where a model and its reduced-precision counterpart disagree.",
    )
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
    from fuzzer.campaign.config_file import load_config_file

    run_parser = argparse.ArgumentParser(add_help=False)
    add_run_options(run_parser.add_argument)
    known: dict[str, type | None] = {}
    given: set[str] = set()
    argv = getattr(args, "argv", [])
    for action in run_parser._actions:  # noqa: SLF001 - argparse has no public listing
        if action.dest == "config":
            continue
        known[action.dest] = bool if action.const is True else action.type
        if any(tok == opt or tok.startswith(opt + "=") for tok in argv for opt in action.option_strings):
            given.add(action.dest)
    for dest, value in load_config_file(args.config, known).items():
        if dest not in given:
            setattr(args, dest, value)


def _config_from_args(args: argparse.Namespace):
    from fuzzer.campaign.config import CampaignConfig

    if args.candidate and args.precision:
        raise DiverfuzzError("--candidate and --precision exclude each other; give one")
    return CampaignConfig(
        model=args.model,
        candidate=args.candidate,
        precision=args.precision or "int8-static",
        data=args.data,
        seeds=args.seeds,
        budget=args.budget,
        strategy=args.strategy,
        mode=args.mode,
        rng_seed=args.rng_seed,
        validity=args.validity,
        population=args.population,
        example=args.example,
        threads=args.threads,
        backend=args.backend,
        workers=args.workers,
        ray_address=args.ray_address,
        defense=args.defense,
        kind=args.kind,
        relations=None if args.relations is None else tuple(r.strip() for r in args.relations.split(",") if r.strip()),
        normalize=args.normalize,
    )


def _summary_table(report: dict):
    from rich.table import Table

    s = report["summary"]
    table = Table(title="diverfuzz campaign", show_header=False)
    median = s["median_queries_to_first_divergence"]
    triage = s.get("triage") or {}
    rows = [
        ("seeds fuzzed", str(s["seeds"])),
        ("seeds disagreeing initially (excluded)", str(s["seeds_disagreeing_initially"])),
        ("seeds with a divergence", str(s["seeds_with_divergence"])),
        ("success rate", f"{100 * s['success_rate']:.1f}%"),
        ("model-pair queries", str(s["queries"])),
        ("median queries to first divergence", "-" if median is None else f"{median:g}"),
        (
            "triage: precision-induced / reference-unstable",
            f"{triage.get('precision-induced', 0)} / {triage.get('reference-unstable', 0)}",
        ),
        ("wall time", f"{s['wall_seconds']:.1f} s"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fuzzer.campaign.driver import REPORT_HTML, REPORT_JSON, run_campaign

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

    def update(done: int, total: int, found: int) -> None:
        progress.update(task, completed=done, total=total, found=found)

    with progress:
        if not args.quiet:
            err.print("preparing models and seeds ...")
        result = run_campaign(config, args.out, resume=args.resume, progress=update)
    out.print(_summary_table(result.report))
    out.print(f"report: {Path(args.out) / REPORT_HTML}  (JSON: {Path(args.out) / REPORT_JSON})")
    if result.interrupted:
        err.print("interrupted: everything found so far is saved; continue with --resume")
        return EXIT_INTERRUPTED
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from fuzzer.campaign.replay import replay

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
    from rich.table import Table

    from fuzzer.entry.supervision import SUPERVISORS_FILE, evaluate_campaign_supervisors

    scores = evaluate_campaign_supervisors(args.dir, false_alarm=args.false_alarm)
    table = Table(title="supervisors on divergence-inducing inputs")
    for column in ("supervisor", "AUROC", "TPR @ threshold", "nominal acceptance", "accepted accuracy"):
        table.add_column(column)

    def fmt(v):
        return "-" if v is None or v != v else f"{v:.3f}"

    for s in scores:
        table.add_row(s.name, fmt(s.auroc), fmt(s.tpr_at_threshold), fmt(s.nominal_acceptance), fmt(s.accepted_accuracy))
    Console().print(table)
    print(f"written: {Path(args.dir) / SUPERVISORS_FILE}")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fuzzer.entry.sweep import recommendation_text, run_sweep, sweep_tables

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
    from fuzzer.entry.rerender import FORMATS, rerender

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
