"""pytest plugin: the ``diverfuzz`` fixture, options, marker and terminal summary.

Precedence of a setting, first given wins: the ``--diverfuzz-*`` command-line
option, then the argument of ``diverfuzz.check(...)`` in the test, then the
``@pytest.mark.diverfuzz`` marker, then the ``diverfuzz_*`` ini key, then the
default. The command line comes first so that ``pytest --diverfuzz-budget 10``
makes a quick run of a suite whose tests pass ``budget=200``.

Hooks and option definitions only; everything heavy (torch, the campaign
engine) is imported when a test first uses the fixture, so the plugin costs
nothing in test sessions that do not use it. Registered through the
``pytest11`` entry point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from diverfuzz.fuzzer.campaign.storage.regression import safe_name

#: (option suffix, ini name, type, default, help); the one definition of each setting.
SETTINGS: tuple[tuple[str, str, type, Any, str], ...] = (
    ("budget", "diverfuzz_budget", int, 200, "model-pair queries per seed"),
    ("seed", "diverfuzz_seed", int, 0, "rng seed of every campaign"),
    ("report", "diverfuzz_report", str, None, "folder for each checked pair's report.html/.md/.json and junit.xml"),
    ("corpus", "diverfuzz_corpus", str, ".diverfuzz-corpus", "regression corpus folder (commit it), relative to rootdir"),
    ("workers", "diverfuzz_workers", int, 1, "seeds fuzzed at once, in threads sharing the models"),
    ("min-margin", "diverfuzz_min_margin", float, 0.0,
     "count only divergences where the reference's top-1 minus top-2 probability is at least this"),
)
MARKER_KEYS = frozenset({"budget", "strategy", "validity", "rng_seed", "name", "workers", "min_margin", "estimate"})
#: check() argument -> (ini name, option suffix) of the settings the command line can give.
ARGUMENT_SETTINGS = {
    "budget": ("diverfuzz_budget", "budget"),
    "rng_seed": ("diverfuzz_seed", "seed"),
    "workers": ("diverfuzz_workers", "workers"),
    "min_margin": ("diverfuzz_min_margin", "min-margin"),
}
_RESULTS = pytest.StashKey[list]()


def add_options(addoption: Callable[..., None], addini: Callable[..., None], prefix: str = "diverfuzz") -> None:
    """Register the plugin's options and ini settings (reusable by other front ends)."""
    for suffix, ini, kind, default, text in SETTINGS:
        addoption(f"--{prefix}-{suffix}", dest=ini, type=kind, default=None, help=f"diverfuzz: {text} (ini: {ini})")
        addini(ini, f"diverfuzz: {text}", default=None if default is None else str(default))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("diverfuzz", "differential fuzzing of model pairs")
    add_options(group.addoption, parser.addini)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "diverfuzz(budget=None, strategy=None, validity=None, rng_seed=None, name=None, workers=None, "
        "min_margin=None): "
        "settings for the diverfuzz fixture in this test",
    )
    config.stash[_RESULTS] = []


def setting(config: pytest.Config, ini: str) -> Any:
    """A setting from the command line, else the ini file, else its default."""
    for _, name, kind, default, _ in SETTINGS:
        if name == ini:
            value = config.getoption(ini)
            if value is None:
                value = config.getini(ini)
            if value in (None, ""):
                return default
            try:
                return kind(value)
            except ValueError:
                raise pytest.UsageError(f"{ini}={value!r}: expected {kind.__name__}") from None
    raise KeyError(ini)


class DiverfuzzFixture:
    """What a test receives as ``diverfuzz``: call :meth:`check` on a model pair."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        marker = request.node.get_closest_marker("diverfuzz")
        self._marker = dict(marker.kwargs) if marker else {}
        unknown = set(self._marker) - MARKER_KEYS
        if marker and (unknown or marker.args):
            raise pytest.UsageError(
                f"@pytest.mark.diverfuzz takes keyword arguments {sorted(MARKER_KEYS)}; "
                f"got {sorted(unknown) or list(marker.args)}"
            )
        self._calls = 0

    def check(
        self,
        reference: Any,
        candidate: Any,
        seeds: Any,
        *,
        labels: Any = None,
        budget: int | None = None,
        strategy: str | None = None,
        validity: str | None = None,
        rng_seed: int | None = None,
        name: str | None = None,
        workers: int | None = None,
        min_margin: float | None = None,
        estimate: Any = None,
    ):
        """Fuzz ``reference`` against ``candidate`` (a model, a callable or a precision spec).

        Settings come from the ``--diverfuzz-*`` command-line options, else
        the arguments, else the ``diverfuzz`` marker, else the ini settings,
        else the defaults: ``pytest --diverfuzz-budget 10`` overrides
        ``check(..., budget=200)``. Returns a
        :class:`diverfuzz.entry.check.CheckResult`; call ``assert_max_success_rate``
        on it to gate the test.
        """
        # Lazy: torch is a heavy dependency, and pytest loads this plugin in
        # every session, including those that never use the fixture.
        from diverfuzz.common.errors import DiverfuzzError
        from diverfuzz.entry.check import check

        config = self._request.config
        from_command_line: dict[str, str] = {}

        def pick(value: Any, key: str, fallback: Any) -> Any:
            if key in ARGUMENT_SETTINGS:
                ini, suffix = ARGUMENT_SETTINGS[key]
                given = config.getoption(ini)
                if given is not None:  # the command line overrides the test's code
                    from_command_line[key] = f"--diverfuzz-{suffix}"
                    return given
            return value if value is not None else self._marker.get(key, fallback)

        self._calls += 1
        default_name = self._request.node.nodeid + (f"-{self._calls}" if self._calls > 1 else "")
        pair_name = pick(name, "name", default_name)
        folder = safe_name(pair_name)
        report_root = setting(config, "diverfuzz_report")
        if report_root is not None:
            report_dir = Path(report_root) / folder
        else:
            report_dir = self._request.getfixturevalue("tmp_path") / f"diverfuzz-{self._calls}"
        corpus = Path(config.rootpath) / setting(config, "diverfuzz_corpus")
        settings = dict(
            budget=pick(budget, "budget", setting(config, "diverfuzz_budget")),
            strategy=pick(strategy, "strategy", "genetic"),
            validity=pick(validity, "validity", None),
            rng_seed=pick(rng_seed, "rng_seed", setting(config, "diverfuzz_seed")),
            workers=pick(workers, "workers", setting(config, "diverfuzz_workers")),
            min_margin=pick(min_margin, "min_margin", setting(config, "diverfuzz_min_margin")),
            estimate=pick(estimate, "estimate", None),
        )
        try:
            result = check(
                reference, candidate, seeds, labels=labels, name=pair_name, report_dir=report_dir, corpus_dir=corpus,
                **settings,
            )
        except DiverfuzzError as exc:
            # check() names its arguments (budget=0); a value from the command line is named as given there.
            if from_command_line and exc.args and isinstance(exc.args[0], str):
                message = exc.args[0]
                for key, option in from_command_line.items():
                    message = message.replace(f"{key}=", f"{option}=")
                exc.args = (message, *exc.args[1:])
            raise
        node = self._request.node
        prefix = "diverfuzz" if self._calls == 1 else f"diverfuzz_{self._calls}"
        node.user_properties.append((f"{prefix}_divergences", len(result.divergences)))
        node.user_properties.append((f"{prefix}_success_rate", round(result.success_rate, 4)))
        node.user_properties.append((f"{prefix}_divergence_rate", round(result.divergence_rate, 4)))
        node.user_properties.append((f"{prefix}_clean_disagreements", len(result.clean_disagreements)))
        node.user_properties.append((f"{prefix}_rejected", result.report["summary"].get("rejected", 0)))
        node.user_properties.append((f"{prefix}_queries", result.queries))
        node.user_properties.append((f"{prefix}_replayed", result.replayed))
        config.stash[_RESULTS].append(result.summary_line())
        config.stash[_RESULTS].extend(f"  warning: {w}" for w in result.warnings)
        if result.estimate:  # the divergence-probability table: JUnit properties, one summary line per relation
            from diverfuzz.reports.estimate_view import estimate_markdown_rows, estimate_properties

            for key, value in estimate_properties(result.estimate):
                node.user_properties.append((f"{prefix}_{key}", value))
            header, rows = estimate_markdown_rows(result.estimate)
            config.stash[_RESULTS].append("  divergence probability, % [95% interval]: " + " | ".join(header[1:]))
            config.stash[_RESULTS].extend(f"  {row[0]}: " + " | ".join(row[1:]) for row in rows)
        return result


@pytest.fixture
def diverfuzz(request: pytest.FixtureRequest) -> DiverfuzzFixture:
    """Differential fuzzing of a model pair; see :meth:`DiverfuzzFixture.check`."""
    return DiverfuzzFixture(request)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(_RESULTS, [])
    if lines:
        terminalreporter.section("diverfuzz")
        for line in lines:
            terminalreporter.write_line(line)
