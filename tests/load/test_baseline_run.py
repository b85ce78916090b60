"""Baselines end to end: save a run on the fast server, catch the regression on the slow one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.load.conftest import SCENARIOS, run_load

pytestmark = pytest.mark.slow


def test_regression_against_a_saved_baseline_exits_1(
    fast_server: str, slow_server: str, tmp_path: Path
) -> None:
    """The same scenario on a slower server regresses p95 and throughput: exit 1, with the table."""
    baseline = tmp_path / ".overdrive" / "baseline.json"
    saved = run_load(
        str(SCENARIOS / "reader.py"),
        "--host",
        fast_server,
        "--users",
        "4",
        "--duration",
        "2s",
        "--save-baseline",
        str(baseline),
    )
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert json.loads(baseline.read_text())["baseline_version"] == 1

    summary = tmp_path / "summary.json"
    compared = run_load(
        str(SCENARIOS / "reader.py"),
        "--host",
        slow_server,
        "--users",
        "4",
        "--duration",
        "2s",
        "--baseline",
        str(baseline),
        "--json",
        str(summary),
    )
    assert compared.returncode == 1, compared.stdout + compared.stderr
    movements = json.loads(summary.read_text())["baseline"]["movements"]
    regressed = {(row["scope"], row["metric"]) for row in movements if row["regressed"]}
    assert {("overall", "p95"), ("overall", "rps"), ("/items/{id}", "p95")} <= regressed
    assert "regressed" in compared.stdout
