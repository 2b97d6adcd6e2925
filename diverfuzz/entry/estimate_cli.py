"""``diverfuzz estimate``: its options, and the command (parse, call, print)."""

from __future__ import annotations

import argparse
from pathlib import Path

from diverfuzz.entry.options import add_config_options
from diverfuzz.fuzzer.campaign.config import CampaignConfig

#: Campaign options ``estimate`` takes (models, data, preprocessing, seeds, relations, threads).
ESTIMATE_FIELDS = (
    "model", "candidate", "precision", "data", "calibration", "size", "device", "input_range", "mean", "std",
    "layout", "seeds", "rng_seed", "example", "kind", "relations", "threads", "defense", "normalize",
)


def add_estimate_options(add_argument) -> None:
    """Options of ``diverfuzz estimate``: the run options of :data:`ESTIMATE_FIELDS`, then its own."""
    add_config_options(add_argument, only=ESTIMATE_FIELDS,
                       helps={"seeds": "inputs to estimate on, the first N of the data, unscreened"})
    add_argument("--samples", type=int, default=100, metavar="N",
                  help="draws per seed, relation and severity (default 100)")
    add_argument("--severities", default="1-5", metavar="S",
                  help="severities 1-5 as a range or list, e.g. 1-5 or 1,3,5 (default 1-5); "
                       "severity 0, the clean inputs, is always estimated")
    add_argument("--keep", action="store_true",
                  help="store every disagreeing draw in DIR/corpus.sqlite, to replay, report and export "
                       "like divergences")
    add_argument("--out", default="diverfuzz-estimate", metavar="DIR",
                  help="output folder: estimate.json, report.html, report.md (default ./diverfuzz-estimate)")
    add_argument("--force", action="store_true", help="replace an estimate already in --out")
    add_argument("--quiet", action="store_true", help="no progress bar")


def estimate_table(records: list[dict]):
    """The rich table of relations x severities (percent, with the interval), worst cell in the title."""
    from rich.table import Table

    from diverfuzz.reports.estimate_view import cell_text, estimate_markdown_rows, worst_entry

    header, rows = estimate_markdown_rows(records)
    worst = worst_entry(records)
    table = Table(title=f"divergence probability, % [95% interval]; highest upper bound: "
                        f"{worst['relation']} at severity {worst['severity']}, {cell_text(worst)}")
    for name in header:
        table.add_column(name, justify="left" if name == "Relation" else "right")
    for row in rows:
        table.add_row(*row)
    return table


def cmd_estimate(args: argparse.Namespace) -> int:
    """Run ``diverfuzz estimate`` and print the table; returns the exit status (0)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from diverfuzz.common.errors import DiverfuzzError
    from diverfuzz.entry.tables import console
    from diverfuzz.fuzzer.estimate import ESTIMATE_FILE, parse_severities, run_estimate

    given = {name: getattr(args, name) for name in ESTIMATE_FIELDS if hasattr(args, name)}
    if given.get("candidate") and given.get("precision"):
        raise DiverfuzzError("--candidate and --precision exclude each other; give one")
    config = CampaignConfig(**given)
    severities = parse_severities(args.severities)  # a bad value fails before any model is built
    err = Console(stderr=True)
    progress = Progress(
        TextColumn("estimating cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, disable=args.quiet, transient=True,
    )
    task = progress.add_task("cells", total=None)
    with progress:
        if not args.quiet:
            err.print("preparing models and seeds ...")
        run = run_estimate(
            config, args.out, samples=args.samples, severities=severities, keep=args.keep, force=args.force,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    out = console()
    out.print(estimate_table(run.result.records()))
    result = run.result
    print(f"{result.draws} draws on {run.seeds} seeds in {result.seconds:.1f} s "
          f"({result.draws / max(result.seconds, 1e-9):.0f} draws/s)"
          + (f"; {len(result.kept)} disagreeing draws kept in {Path(args.out) / 'corpus.sqlite'}" if args.keep else ""))
    folder = Path(args.out)
    print(f"written: {folder / ESTIMATE_FILE}, {folder / 'report.html'}, {folder / 'report.md'}")
    return 0
