"""``diverfuzz explain DIR``: its options, and the command (parse, call, print)."""

from __future__ import annotations

import argparse


def add_explain_options(add_argument) -> None:
    """Options of ``diverfuzz explain`` (see :func:`diverfuzz.fuzzer.explain.explain`)."""
    add_argument("dir", metavar="DIR", help="a campaign's output folder whose counterpart was built with --precision")
    add_argument("--target", type=float, default=0.9, metavar="SHARE",
                 help="share of the stored divergences the fix must remove, in (0, 1] (default 0.9)")
    add_argument("--max-weights", type=float, default=1.0, metavar="SHARE",
                 help="largest share of the weights the fix may keep at float32, in (0, 1] (default 1: no limit); "
                      "without a set of layers that reaches --target within it, the best one within it")


def explain_lines(result) -> list[str]:
    """The lines ``diverfuzz explain`` prints: culprit histogram, the fix, its cost and time."""
    if result.fix is None:  # a model-file candidate: per-tensor errors only
        return [
            f"{len(result.divergences)} divergences; per-tensor errors of the {len(result.layers)} tensors the two "
            "files share written to explain.json"
        ]
    lines = [f"{len(result.divergences)} divergences of {result.precision}; culprit layers (divergences naming each):"]
    width = max((len(name) for name in result.layers), default=0)
    for name in result.layers:
        count = result.histogram.get(name, 0)
        lines.append(f"  {name:<{width}}  {count:>4}  {'#' * count}")
    fix = result.fix
    share = "n/a" if fix["removed"] is None else f"{100 * fix['removed']:.1f}%"
    kept = ", ".join(fix["layers"]) or "(none)"
    macs = "" if fix["macs_share"] is None else f", {100 * fix['macs_share']:.1f}% of MACs"
    lines.append(
        f"fix: keep {kept} at float32 -> {share} of the stored divergences removed (replayed); "
        f"{100 * fix['weights_share']:.1f}% of weights{macs} at float32"
    )
    if not fix["reached"]:
        lines.append(
            f"no set of layers within {100 * fix['max_weights']:.0f}% of the weights removes {100 * fix['target']:.0f}% "
            "of the divergences: the fix above is the best within it"
        )
    elif len(fix["layers"]) == len(result.layers) > 1:
        lines.append("no smaller set of layers removes the target share: the divergences depend on every layer's precision")
    for step in fix.get("steps") or []:
        lines.append(f"  keeping {', '.join(step['layers'])}: {100 * step['removed']:.1f}% removed")
    accuracy = fix.get("accuracy")
    if accuracy:
        lines.append(
            f"clean accuracy: reference {100 * accuracy['reference']:.2f}%, counterpart {100 * accuracy['before']:.2f}%, "
            f"fixed {100 * accuracy['after']:.2f}%"
        )
    ratio = f" ({result.seconds / result.campaign_seconds:.2f}x the campaign's {result.campaign_seconds:.1f} s)" \
        if result.campaign_seconds else ""
    lines.append(f"explain took {result.seconds:.1f} s{ratio}, {result.builds} counterparts built")
    lines.append(f"written: {fix['policy']} (use it with --precision), explain.json")
    return lines


def cmd_explain(args: argparse.Namespace) -> int:
    """Run ``diverfuzz explain`` and print its summary; returns the exit status (0)."""
    import sys

    from diverfuzz.fuzzer.explain import explain

    result = explain(args.dir, target=args.target, max_weights=args.max_weights)
    for line in result.notes:
        print(line, file=sys.stderr)
    for line in explain_lines(result):
        print(line)
    return 0


__all__ = ["add_explain_options", "cmd_explain", "explain_lines"]
