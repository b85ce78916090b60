"""run_load's inputs: default thresholds from the SLO file, and usage errors before any load."""

from __future__ import annotations

from pathlib import Path

import pytest

from overdrive.errors import ConfigurationError
from overdrive.load.runner import LoadOptions, run_load
from overdrive.load.stages import ArrivalRate
from tests.load.conftest import SCENARIOS


def options(**overrides: object) -> LoadOptions:
    base: dict[str, object] = {
        "scenario": SCENARIOS / "reader.py",
        "plan": ArrivalRate.constant(10, 1),
        "host": "http://127.0.0.1:9",
        "live": False,
    }
    return LoadOptions(**{**base, **overrides})  # type: ignore[arg-type]


def test_default_thresholds_apply_and_explicit_ones_replace_them() -> None:
    """Defaults hold unless a threshold on the same route and metric is given explicitly."""
    chosen = options(
        default_thresholds=["p95<300ms", "error_rate<1%", "route:/a:p95<50ms"],
        thresholds=["p95<200ms", "route:/a:p99<80ms"],
    ).parsed_thresholds()
    assert [t.expression for t in chosen] == [
        "error_rate<1%",
        "route:/a:p95<50ms",
        "p95<200ms",
        "route:/a:p99<80ms",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"thresholds": ["p95<soon"]}, "is not a latency"),
        ({"default_thresholds": ["speed>1"]}, "unknown metric"),
        ({"workers": -1}, "--workers must be at least 0"),
        ({"scenario": Path("/nonexistent/scenario.py")}, "no scenario file"),
        ({"baseline": Path("/nonexistent/baseline.json")}, "no baseline at"),
    ],
)
def test_usage_errors_come_before_the_run(overrides: dict[str, object], message: str) -> None:
    """Bad options raise ConfigurationError at once: no engine starts, nothing is sent."""
    with pytest.raises(ConfigurationError, match=message):
        run_load(options(**overrides))
