"""Campaign config files (``diverfuzz run --config campaign.toml``).

A file holds any ``diverfuzz run`` option by its long name with dashes or
underscores (``rng-seed = 3`` or ``rng_seed = 3``); flags given on the
command line override it. TOML (``.toml``) or JSON (``.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fuzzer.errors import DiverfuzzError


def load_config_file(path: str | Path, known: dict[str, type | None]) -> dict[str, Any]:
    """Read ``path`` and return ``{option dest: value}``, validated against ``known``.

    Parameters
    ----------
    path : path-like
        A ``.toml`` or ``.json`` file holding one table of options.
    known : dict
        Option destinations (``rng_seed``) and the Python type each must have
        (None: string or absent; ``list`` values are accepted for ``relations``).
    """
    p = Path(path)
    if not p.is_file():
        raise DiverfuzzError(f"--config={str(p)!r}: file does not exist")
    text = p.read_text(encoding="utf-8", errors="replace")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise DiverfuzzError(f"--config={str(p)!r}: TOML needs Python >= 3.11; use a .json file") from None
            data = tomllib.loads(text)
    except (ValueError, TypeError) as exc:  # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        raise DiverfuzzError(f"--config={str(p)!r} is not valid {p.suffix.lstrip('.') or 'TOML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise DiverfuzzError(f"--config={str(p)!r}: expected a table of options, got {type(data).__name__}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        dest = str(key).replace("-", "_")
        if dest not in known:
            raise DiverfuzzError(
                f"--config={str(p)!r}: unknown option {key!r}; known: {', '.join(sorted(k.replace('_', '-') for k in known))}"
            )
        expected = known[dest]
        if dest == "relations" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise DiverfuzzError(f"--config={str(p)!r}: relations must be a list of names")
            value = ",".join(value)
        if expected is bool:
            ok = isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            wanted = {bool: "true/false", int: "an integer", float: "a number"}.get(expected, "a string")
            raise DiverfuzzError(f"--config={str(p)!r}: {key}={value!r} must be {wanted}")
        out[dest] = value
    return out
