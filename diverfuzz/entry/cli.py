"""The ``diverfuzz`` command line: ``run`` a campaign, ``replay`` its divergences."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from diverfuzz import __version__
from diverfuzz.common.errors import DiverfuzzError
from diverfuzz.entry.options import add_config_options
from diverfuzz.fuzzer.campaign.config import CampaignConfig, config_options, flag
from diverfuzz.fuzzer.campaign.config_file import load_config_file

# Commands import what they run (torch, DEAP, rich) inside their functions:
# those are heavy dependencies, and `diverfuzz --help` or a bad flag must
# answer at once. No import here dodges a cycle: this module is the top layer.

EXIT_OK = 0
EXIT_NOT_REPRODUCED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: Exit status after SIGTERM (a CI timeout, ``kill``): 128 + 15, as a shell reports it.
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises ``KeyboardInterrupt``, so it is handled the same way:
    what was found is stored and reported, and the run is marked interrupted."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[list[int]]:
    """Within, SIGTERM raises :class:`Terminated` in the main thread; yields a list that gets the signal when it came.

    Outside the main thread (where Python cannot install handlers) it changes nothing.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame) -> None:
        received.append(signum)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_run_options(add_argument) -> None:
    """Options of ``diverfuzz run``: every campaign setting from the one schema
    (:func:`diverfuzz.entry.options.add_config_options`), then how to run it."""
    add_config_options(add_argument)
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


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, wrapped at spaces only: a spec such as ``onnx-int8:per-channel`` stays whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


#: What the folder commands take as DIR.
CAMPAIGN_DIR = "a campaign's output folder: the --out of diverfuzz run, or a check()/plugin report folder"


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
    rep.add_argument("dir", metavar="DIR", help=CAMPAIGN_DIR)
    rep.add_argument("--id", metavar="N[,N...]", help="replay only these divergence ids")
    sup = sub.add_parser(
        "evaluate-supervisors",
        help="score uncertainty supervisors on the divergence-inducing inputs of the campaign in DIR",
    )
    sup.add_argument("dir", metavar="DIR", help=CAMPAIGN_DIR)
    sup.add_argument("--false-alarm", type=float, default=0.05, metavar="RATE", help="calibration false-alarm rate (default 0.05)")
    swp = sub.add_parser("sweep", help="sweep number formats: lowest precision that keeps the model's predictions")
    add_sweep_options(swp.add_argument)
    ren = sub.add_parser("report", help="re-render the reports of the campaign in DIR from its corpus")
    ren.add_argument("dir", metavar="DIR", help=CAMPAIGN_DIR)
    ren.add_argument(
        "--format",
        default="html,json,md,junit",
        metavar="F[,F...]",
        help="formats to write: html, json, md, junit (default: all)",
    )
    exp = sub.add_parser("export", help="write each divergence of the campaign in DIR as PNGs and one .npz of arrays")
    exp.add_argument("dir", metavar="DIR", help=CAMPAIGN_DIR)
    exp.add_argument("--format", default="png,npz", metavar="F[,F...]", help="png (seed, mutant, difference per "
                     "divergence) and/or npz (divergences.npz: arrays, labels, chains as JSON) (default: both)")
    exp.add_argument("--out", metavar="FOLDER", help="where the files go (default DIR/export)")
    from diverfuzz.entry.estimate_cli import add_estimate_options  # options only: loads no torch

    est = sub.add_parser("estimate", help="estimate how often the models disagree, per relation and severity")
    add_estimate_options(est.add_argument)
    from diverfuzz.entry.explain_cli import add_explain_options  # options only: loads no torch

    xpl = sub.add_parser("explain", help="which layers' precision each divergence in DIR depends on, and a per-layer fix")
    add_explain_options(xpl.add_argument)
    for command in sub.choices.values():
        command.formatter_class = HelpFormatter
        command.add_argument(
            "--verbose", action="store_true",
            help="also print library warnings and log lines on stderr (always written to diverfuzz.log in the output folder)",
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
    if getattr(args, "resume", False):
        return _resume_config(args.out, given)
    return CampaignConfig(**given)


def _resume_config(out: str, given: dict) -> CampaignConfig:
    """The stored config of the campaign in ``out``, with the options ``given`` on the command line.

    ``run --out DIR --resume`` alone continues the campaign as it was run;
    given options that differ from the stored ones are refused by the driver
    (:func:`diverfuzz.fuzzer.campaign.driver.run_campaign`), except ``--seeds``
    and where seeds run (``--backend``, ``--workers``, ``--ray-address``).
    Files not given again are found at their stored absolute paths, else
    relative to ``out`` (a folder moved with them), which one line says.
    """
    from diverfuzz.fuzzer.campaign.driver import stored_for_resume
    from diverfuzz.fuzzer.campaign.rebuild import locate, moved_line

    stored, paths = stored_for_resume(out)
    stored, moved = locate(stored, {k: v for k, v in (paths or {}).items() if k not in given}, out)
    if moved:
        print(moved_line(moved, out), file=sys.stderr)
    merged = {**stored, **given}
    if "precision" in given and "candidate" not in given:
        merged["candidate"] = None  # a spec given now replaces a stored --candidate (and is refused as a change)
    return CampaignConfig.from_dict(merged)


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


def cmd_run(args: argparse.Namespace, terminated: Sequence[int] = ()) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from diverfuzz.entry.tables import campaign_table, console
    from diverfuzz.fuzzer.campaign.driver import REPORT_HTML, REPORT_JSON, run_campaign

    if args.config:
        _apply_config_file(args)
    config = _config_from_args(args)
    out = console()  # without a terminal: wide, so the table is not squeezed to 80 columns
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
        how = "terminated (SIGTERM)" if terminated else "interrupted"
        err.print(f"{how}: everything found so far is saved; continue with --resume")
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
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
    for line in result.notes:
        print(line, file=sys.stderr)
    for line in result.changed:
        print(f"changed: {line}")
    for line in result.failures:
        print(f"not reproduced: {line}")
    reason = "; the models changed since the campaign ran (see 'changed:' above)" if result.changed else ""
    print(f"{result.reproduced}/{result.total} divergences reproduce{reason}")
    return EXIT_OK if result.ok else EXIT_NOT_REPRODUCED


def cmd_evaluate_supervisors(args: argparse.Namespace) -> int:
    from diverfuzz.entry.tables import console, supervisors_table
    from diverfuzz.supervisors.campaign import SUPERVISORS_FILE, evaluate_campaign

    result = evaluate_campaign(args.dir, false_alarm=args.false_alarm)
    for line in result.notes:
        print(line, file=sys.stderr)
    console().print(supervisors_table(result.scores))
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

    from diverfuzz.entry.tables import console, recommendation_text, sweep_tables
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
    out = console()
    for table in sweep_tables(result):
        out.print(table)
    out.print("recommendation (smallest format keeping agreement on clean and fuzzed inputs):")
    out.print(recommendation_text(result.recommendation), markup=False)
    out.print(f"written: {Path(args.out)}/sweep.json, layers.json, recommendation.json, agreement_vs_mantissa.png, heatmap_exp_man.png")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from diverfuzz.fuzzer.campaign.driver import campaign_state
    from diverfuzz.fuzzer.campaign.rerender import FORMATS, rerender

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise DiverfuzzError(f"--format={args.format!r}: choose from {', '.join(FORMATS)}")
    for path in rerender(args.dir, formats):
        print(path)
    if campaign_state(args.dir) == "running":
        print(
            f"note: the campaign in {args.dir} has not finished (it is still running, or it was killed): "
            f"the report says interrupted; continue it with diverfuzz run --out {args.dir} --resume",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from diverfuzz.fuzzer.campaign.export import FORMATS, export

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    if not formats or any(f not in FORMATS for f in formats):
        raise DiverfuzzError(f"--format={args.format!r}: choose from {', '.join(FORMATS)}")
    result = export(args.dir, formats, args.out)
    pngs = sum(1 for path in result.files if path.suffix == ".png")
    print(f"{result.divergences} divergences exported to {result.folder}" + (f": {pngs} PNGs" if "png" in formats else ""))
    for path in result.files:
        if path.suffix == ".npz":
            print(path)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    from diverfuzz.entry.logs import library_log

    # Library warnings go to diverfuzz.log in the command's folder (and stderr with --verbose).
    folder = getattr(args, "dir", None) or getattr(args, "out", None)
    with library_log(folder, verbose=args.verbose), sigterm_as_interrupt() as terminated:
        return _dispatch(args, terminated)


def _dispatch(args: argparse.Namespace, terminated: list[int]) -> int:
    try:
        if args.command == "run":
            return cmd_run(args, terminated)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "sweep":
            return cmd_sweep(args)
        if args.command == "evaluate-supervisors":
            return cmd_evaluate_supervisors(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "estimate":
            from diverfuzz.entry.estimate_cli import cmd_estimate

            return cmd_estimate(args)
        if args.command == "explain":
            from diverfuzz.entry.explain_cli import cmd_explain

            return cmd_explain(args)
        return cmd_replay(args)
    except DiverfuzzError as exc:
        print(f"diverfuzz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated) or terminated:
            print("diverfuzz: terminated (SIGTERM)", file=sys.stderr)
            return EXIT_TERMINATED
        print("diverfuzz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
