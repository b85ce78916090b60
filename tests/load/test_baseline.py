"""Baseline comparison: what moved, and which moves are regressions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from overdrive.errors import ConfigurationError
from overdrive.load.baseline import (
    Tolerances,
    compare,
    load_baseline,
    plan_mismatch,
    save_baseline,
)


def summary(
    p95: float, rps: float, error_rate: float = 0.0, route_p95: float = 10.0
) -> dict[str, Any]:
    figures = {"p50": p95 / 2, "p95": p95, "p99": p95 * 1.5, "rps": rps, "error_rate": error_rate}
    return {"total": figures, "routes": {"/a": {**figures, "p95": route_p95}}}


def regressed(rows: list[Any]) -> set[tuple[str, str]]:
    return {(row.scope, row.metric) for row in rows if row.regressed}


def test_an_unchanged_run_does_not_regress() -> None:
    """The same figures compare clean, and every figure is in the table."""
    rows = compare(summary(50, 200), summary(50, 200), Tolerances())
    assert regressed(rows) == set()
    assert {(row.scope, row.metric) for row in rows} >= {
        ("overall", "p95"),
        ("overall", "rps"),
        ("overall", "error_rate"),
        ("/a", "p95"),
    }


def test_p95_beyond_its_tolerance_regresses() -> None:
    """p95 +30 % fails the default +20 %; +10 % does not."""
    assert ("overall", "p95") in regressed(
        compare(summary(50, 200), summary(65, 200), Tolerances())
    )
    assert regressed(compare(summary(50, 200), summary(55, 200), Tolerances())) == set()


def test_route_p95_regresses_on_its_own() -> None:
    """A single slower route is caught even when the overall p95 holds."""
    rows = compare(summary(50, 200, route_p95=10), summary(50, 200, route_p95=30), Tolerances())
    assert regressed(rows) == {("/a", "p95")}


def test_throughput_drop_beyond_its_tolerance_regresses() -> None:
    """Throughput −20 % fails the default −15 %; −10 % does not; a custom tolerance applies."""
    assert ("overall", "rps") in regressed(
        compare(summary(50, 200), summary(50, 160), Tolerances())
    )
    assert regressed(compare(summary(50, 200), summary(50, 180), Tolerances())) == set()
    assert (
        regressed(compare(summary(50, 200), summary(50, 160), Tolerances(rps_decrease=0.25)))
        == set()
    )


def test_error_rate_rise_regresses() -> None:
    """Error rate up by more than one percentage point fails."""
    rows = compare(summary(50, 200, 0.0), summary(50, 200, 0.05), Tolerances())
    assert ("overall", "error_rate") in regressed(rows)


def test_sub_millisecond_moves_are_noise() -> None:
    """0.5 ms to 0.9 ms is +80 % but not a regression."""
    assert (
        regressed(
            compare(
                summary(0.5, 200, route_p95=0.5), summary(0.9, 200, route_p95=0.9), Tolerances()
            )
        )
        == set()
    )


def test_change_is_relative_and_none_from_zero() -> None:
    """The table's change column is a fraction; from a zero baseline it is undefined."""
    rows = {
        (row.scope, row.metric): row
        for row in compare(summary(50, 200), summary(60, 200), Tolerances())
    }
    assert rows[("overall", "p95")].change == pytest.approx(0.2)
    assert rows[("overall", "error_rate")].change is None


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    """A saved baseline loads back with its figures."""
    path = tmp_path / "nested" / "baseline.json"
    save_baseline(summary(50, 200), path)
    assert load_baseline(path)["total"]["p95"] == 50


def test_missing_or_foreign_baselines_are_usage_errors(tmp_path: Path) -> None:
    """A missing file, bad JSON, or another tool's JSON each get a clear error."""
    with pytest.raises(ConfigurationError, match="--save-baseline"):
        load_baseline(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="not readable JSON"):
        load_baseline(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"metrics": {}}))
    with pytest.raises(ConfigurationError, match="not an overdrive load baseline"):
        load_baseline(tmp_path / "other.json")


def test_a_different_plan_is_flagged() -> None:
    """Comparing runs of different load plans warns; the same plan, or none recorded, does not."""
    plan = {"kind": "arrival_rate", "rate": 100.0, "duration": 60.0, "max_in_flight": 1000}
    same = {**summary(50, 200), "plan": plan}
    assert plan_mismatch(same, same) is None
    assert plan_mismatch(summary(50, 200), same) is None
    other = {**same, "plan": {**plan, "rate": 200.0}}
    warning = plan_mismatch(same, other)
    assert warning is not None
    assert "different load plan" in warning
