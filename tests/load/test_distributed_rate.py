"""The open model across local workers: each runs its share of the rate; the master adds up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.load.conftest import SCENARIOS, run_load

pytestmark = pytest.mark.slow


def test_rate_is_split_across_workers(fast_server: str, tmp_path: Path) -> None:
    """--rate 120 with --workers 2: 60/s each, 120/s in total within 5 %, counts merged."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "single.py"),
        "--host",
        fast_server,
        "--rate",
        "120",
        "--duration",
        "3s",
        "--workers",
        "2",
        "--json",
        str(summary),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(summary.read_text())
    assert document["workers"] == 2
    arrivals = document["arrivals"]
    assert arrivals["intended"] == 360
    assert arrivals["dropped"] == 0
    assert document["total"]["requests"] == pytest.approx(360, rel=0.05)
    assert document["total"]["rps"] == pytest.approx(120, rel=0.05)
