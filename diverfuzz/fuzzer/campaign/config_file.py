"""Campaign config files (``diverfuzz run --config campaign.toml``).

A file holds any ``diverfuzz run`` option by its long name with dashes or
underscores (``rng-seed = 3`` or ``rng_seed = 3``); flags given on the
command line override it. TOML (``.toml``) or JSON (``.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diverfuzz.fuzzer.campaign.config import check_value

try:
    import tomllib
except ImportError:  # Python 3.10: JSON config files only
    tomllib = None
from diverfuzz.common.errors import DiverfuzzError

#: Options of ``diverfuzz run`` that say where and how to run, not what a
#: campaign is (they are not :class:`CampaignConfig` fields), by value kind.
RUN_OPTIONS = {"out": "str", "resume": "bool", "quiet": "bool", "force": "bool"}

#: The config file types :func:`load_config_file` reads.
CONFIG_SUFFIXES = (".toml", ".json")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read ``path`` and return ``{option name: value}``, each checked against the schema.

    Parameters
    ----------
    path : path-like
        A ``.toml`` or ``.json`` file holding one table of options: any
        :class:`~diverfuzz.fuzzer.campaign.config.CampaignConfig` field or
        :data:`RUN_OPTIONS` key, with dashes or underscores.

    Raises
    ------
    DiverfuzzError
        One line naming the file and what is wrong (unreadable, not a table,
        unknown key, a value of the wrong type or out of range).
    """
    p = Path(path)
    if not p.is_file():
        raise DiverfuzzError(f"--config={str(p)!r}: file does not exist")
    if p.suffix.lower() not in CONFIG_SUFFIXES:
        # A YAML or INI file read as TOML fails (or, worse, half-parses) with a misleading message.
        raise DiverfuzzError(
            f"--config={str(p)!r}: unknown config file type {p.suffix or '(no extension)'!r}; "
            "write the options as a .toml or .json file"
        )
    text = p.read_text(encoding="utf-8", errors="replace")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        elif tomllib is None:
            raise DiverfuzzError(f"--config={str(p)!r}: TOML needs Python >= 3.11; use a .json file")
        else:
            data = tomllib.loads(text)
    except (ValueError, TypeError) as exc:  # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        raise DiverfuzzError(f"--config={str(p)!r} is not valid {p.suffix.lstrip('.') or 'TOML'}: {exc}") from exc
    if not isinstance(data, dict):
        raise DiverfuzzError(f"--config={str(p)!r}: expected a table of options, got {type(data).__name__}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        try:
            if name in RUN_OPTIONS:
                if RUN_OPTIONS[name] == "bool" and not isinstance(value, bool):
                    raise DiverfuzzError(f"--{key}={value!r} must be true or false")
                if RUN_OPTIONS[name] == "str" and not isinstance(value, str):
                    raise DiverfuzzError(f"--{key}={value!r} must be a string")
            else:
                value = check_value(name, value)
        except DiverfuzzError as exc:
            message = str(exc)
            if message.startswith("unknown option"):
                message += ", " + ", ".join(k for k in RUN_OPTIONS)
            raise DiverfuzzError(f"--config={str(p)!r}: {message}") from None
        out[name] = value
    return out
