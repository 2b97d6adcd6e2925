"""Write the digits test split as an ``.npz`` usable with ``diverfuzz run --data``.

The file holds ``x`` (float32, ``(540, 1, 8, 8)``, values in ``[0, 1]``) and
``y`` (int64 labels): the real UCI handwritten digits bundled with
scikit-learn, split exactly as the bundled digits CNN was trained (the 30%
it never saw). Use it as a template for your own data: channel-first float32
in ``[0, 1]`` (divide 8-bit images by 255), integer labels optional.

Usage::

    python examples/make_npz.py digits_test.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from diverfuzz.models.examples.digits import load_digits_data


def write_digits_test(path: str | Path) -> Path:
    """Save the digits test split to ``path`` (``x`` and ``y``) and return the path."""
    data = load_digits_data()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=data.x_test.astype(np.float32), y=data.y_test.astype(np.int64))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="digits_test.npz", help="output file (default digits_test.npz)")
    args = parser.parse_args(argv)
    path = write_digits_test(args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
