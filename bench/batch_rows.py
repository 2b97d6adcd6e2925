"""Does a model's output for an input depend on the size of the batch it is run in?

Usage::

    python bench/batch_rows.py                      # LeNet-5 float reference and its int8-static counterpart
    python bench/batch_rows.py --precision onnx-int8

The first 64 MNIST inputs of the example pair (``--example mnist``) are run as one batch; then
their first rows again in batches of 1, 2, 5, 10, 16 and 32 inputs. Printed per model and batch
size: whether every row is bit for bit the one of the 64-input batch, and the largest absolute
difference of a logit. A model whose rows change with the batch size cannot have several
seeds' candidates merged into its batches without changing what each seed finds (the search
would see other logits than the seed searched alone). One torch thread.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from provenance import commit_label  # noqa: E402

SIZES = (1, 2, 5, 10, 16, 32)


def main() -> None:
    from diverfuzz.fuzzer.campaign.config import CampaignConfig
    from diverfuzz.fuzzer.campaign.workload import prepare

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precision", default="int8-static", help="counterpart spec (default int8-static)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    workload = prepare(CampaignConfig(example="mnist", precision=args.precision, seeds=1, budget=1, threads=1))
    x = np.ascontiguousarray(workload.x[:64], dtype=np.float32)
    whole = workload.pair.logits(x)
    print(f"LeNet-5 (MNIST) vs {args.precision}, commit {commit_label()}: rows of batches of n against one batch of 64")
    for role, full in zip(("reference", "candidate"), whole):
        cells = []
        for n in SIZES:
            part = np.concatenate([workload.pair.logits(x[k : k + n])[role == "candidate"] for k in range(0, 32, n)])
            same = np.array_equal(part, full[: len(part)])
            cells.append(f"n={n}: {'same' if same else f'differs by {np.abs(part - full[: len(part)]).max():.2g}'}")
        print(f"{role:9s} " + "; ".join(cells))


if __name__ == "__main__":
    main()
