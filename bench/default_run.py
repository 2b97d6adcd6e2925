"""Wall time of the README's first command, ``diverfuzz run``, and of its smaller variant, as a user runs them.

Usage: ``python bench/default_run.py [--json bench/results/default_run.json]``

Runs ``diverfuzz run --out DIR --quiet`` (the bundled digits example against ``int8-static``, 100 seeds,
budget 500, the default ``natural`` rule) and ``--seeds 20 --budget 200`` as subprocesses, once the
example's weights are cached (a first, untimed ``--seeds 1 --budget 1`` run trains and caches them), and
prints the wall time of each with the campaign's own time and how many seeds diverged (from its
``report.json``). The commit is read from git.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit_label  # bench/provenance.py

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"default": [], "small": ["--seeds", "20", "--budget", "200"]}


def run(extra: list[str], out: Path) -> dict:
    """One ``diverfuzz run`` in a subprocess: wall seconds, the campaign's seconds and its divergent seeds."""
    command = [sys.executable, "-m", "diverfuzz.entry.cli", "run", "--out", str(out), "--quiet", "--force", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: divergences found
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    summary = json.loads((out / "report.json").read_text())["summary"]
    return {"command": "diverfuzz run " + " ".join(extra), "wall_s": round(wall, 1),
            "campaign_s": round(summary["wall_seconds"], 1), "seeds": summary["seeds"],
            "seeds_with_divergence": summary["seeds_with_divergence"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    commit = commit_label()
    with tempfile.TemporaryDirectory() as tmp:
        run(["--seeds", "1", "--budget", "1"], Path(tmp) / "warm")  # trains and caches the weights once
        results = {name: run(extra, Path(tmp) / name) for name, extra in RUNS.items()}
    out = {"commit": commit, "runs": results}
    for r in results.values():
        print(f"{r['command']}: {r['wall_s']} s wall ({r['campaign_s']} s campaign), "
              f"{r['seeds_with_divergence']}/{r['seeds']} seeds diverged")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
