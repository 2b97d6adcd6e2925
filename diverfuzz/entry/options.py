"""Command-line options built from the one campaign schema (``config_options``), shared by the subcommands."""

from __future__ import annotations

import argparse
from typing import Callable, Collection, Mapping

from diverfuzz.fuzzer.campaign.config import config_options, flag


def add_config_options(
    add_argument: Callable,
    *,
    only: Collection[str] | None = None,
    helps: Mapping[str, str] | None = None,
) -> None:
    """One option per campaign setting (all of them, or those in ``only``), from the schema.

    Options default to ``argparse.SUPPRESS``: an option absent from the
    namespace was not given, so a ``--config`` file fills it, and otherwise
    :class:`~diverfuzz.fuzzer.campaign.config.CampaignConfig`'s default applies.
    ``helps`` replaces the schema's help text of some settings (the default is
    still appended).
    """
    for name, spec, default in config_options():
        if only is not None and name not in only:
            continue
        kwargs: dict = {"dest": name, "default": argparse.SUPPRESS}
        shown = "" if default is None or spec.kind == "bool" else f" (default {default!r})"
        if spec.kind == "bool":
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = {"int": int, "float": float}.get(spec.kind, str)
            if spec.choices is not None:
                kwargs["choices"] = spec.choices
            if spec.metavar is not None:
                kwargs["metavar"] = spec.metavar
        add_argument(flag(name), help=(helps or {}).get(name, spec.help) + shown, **kwargs)
