"""One strategy of two real-pair suite runs side by side: did a change lose search success or naturalness?

Usage::

    python bench/suite_compare.py OLD.json NEW.json [--strategy genetic] [--markdown FILE]

``OLD.json`` and ``NEW.json`` are ``bench/search_suite.py --json`` files (for example the full run of
an earlier commit and a ``--strategies genetic`` run of the current one). Both draw the same seeds
(``--selection-seed``) and RNG seeds, so their searches pair up seed by seed. For every (pair, level)
both ran, at the pair's largest budget: success with its 95% bootstrap interval over seeds, the
naturalness of what was found (median severity, median PSNR after the geometry, median reference
margin, share of decisive divergences), and A12 of the new run's cost against the old one's (queries
to the first divergence; A12 > 0.5: the new run is faster) with a two-sided Wilcoxon signed-rank test
on the seeds' mean costs, paired by seed, Holm-corrected over the table.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # last: bench/stats.py and bench/search_suite.py

import argparse  # noqa: E402
import json  # noqa: E402

from search_suite import PAIRS, BUDGETS, _summary, config_key  # noqa: E402
from stats import a12, costs, holm, paired_by_seed  # noqa: E402


def _cells(data: dict, strategy: str) -> dict:
    key = config_key(strategy, {})
    return {(c["pair"], c["level"]): c for c in data["cells"].values() if c["key"] == key}


def compare(old: dict, new: dict, strategy: str) -> list[dict]:
    before, after = _cells(old, strategy), _cells(new, strategy)
    rows = []
    for (pair, level), cell in after.items():
        if (pair, level) not in before or before[(pair, level)]["seeds"] != cell["seeds"]:
            continue
        budget = PAIRS[pair].budget or max(BUDGETS) if pair in PAIRS else max(BUDGETS)
        o, n = before[(pair, level)]["records"], cell["records"]
        rows.append({"pair": pair, "level": level, "budget": budget, "old": _summary(o, budget),
                     "new": _summary(n, budget), "a12_new_vs_old": a12(costs(n, budget), costs(o, budget)),
                     "p": paired_by_seed(n, o, budget)})
    for row, adj in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = adj
    return rows


def _side(s: dict) -> str:
    q = s["reference_margin_quartiles"]
    severity = "-" if s["median_severity"] is None else f"{s['median_severity']:.1f}"
    psnr = "-" if s["median_pixel_psnr"] is None else f"{s['median_pixel_psnr']:.1f}"
    return (f"{s['success']:.2f} [{s['boot95'][0]:.2f}, {s['boot95'][1]:.2f}] | {severity} | {psnr} | "
            f"{'-' if q is None else f'{q[1]:.3f}'} | {s['decisive_05']:.2f}")


def render(rows: list[dict], old: dict, new: dict, strategy: str) -> str:
    head = (f"{strategy}: `{old['meta'].get('commit', '?')}` (old) against `{new['meta'].get('commit', '?')}` (new), "
            "each pair's largest budget.")
    lines = [f"# {strategy} in two real-pair suite runs", "",
             f"Old run: `{old['meta'].get('command', '?')}`. New run: `{new['meta'].get('command', '?')}`. Both draw "
             "the same seeds and RNG seeds, so searches pair up seed by seed. Columns per run: success [95% bootstrap "
             "over seeds], median severity, median PSNR after the geometry (dB), median reference margin, share of "
             "decisive divergences (margin >= 0.05). A12 > 0.5: the new run reaches its first divergence sooner; "
             "Wilcoxon signed-rank on the seeds' mean costs, Holm over the table.", "", head, "",
             "| pair | level | budget | old success [95%] | sev. | PSNR geo | margin | decisive "
             "| new success [95%] | sev. | PSNR geo | margin | decisive | A12 new vs old | p_Holm |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['pair']} | {r['level']} | {r['budget']} | {_side(r['old'])} | {_side(r['new'])} | "
                     f"{r['a12_new_vs_old']:.2f} | {r['p_holm']:.2g} |")
    worse = [r for r in rows if r["a12_new_vs_old"] < 0.5 and r["p_holm"] < 0.05]
    lines += ["", "Significantly slower to its first divergence than before (A12 < 0.5, p_Holm < 0.05): "
              + (", ".join(f"{r['pair']} [{r['level']}]" for r in worse) or "nowhere") + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--strategy", default="genetic")
    parser.add_argument("--markdown", default=None, help="also write the table here")
    args = parser.parse_args()
    old, new = (json.loads(Path(p).read_text()) for p in (args.old, args.new))
    text = render(compare(old, new, args.strategy), old, new, args.strategy)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
