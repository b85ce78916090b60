"""The open model: requested rate achieved, latency from the intended start, failure when short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overdrive.load.server_metrics import scrape
from tests.load.conftest import SCENARIOS, run_load

pytestmark = pytest.mark.slow


def server_requests(base_url: str) -> float:
    snapshot = scrape(f"{base_url}/metrics")
    assert snapshot is not None
    return sum(
        value for (name, _), value in snapshot.items() if name == "overdrive_http_requests_total"
    )


def test_achieved_rate_is_within_5_percent(fast_server: str, tmp_path: Path) -> None:
    """200 req/s for 4 s: the server counts 800 ± 5 %; each full second is within 10 %."""
    summary = tmp_path / "summary.json"
    before = server_requests(fast_server)
    result = run_load(
        str(SCENARIOS / "single.py"),
        "--host",
        fast_server,
        "--rate",
        "200",
        "--duration",
        "4s",
        "--json",
        str(summary),
        "--metrics-path",
        "",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    served = server_requests(fast_server) - before
    assert served == pytest.approx(800, rel=0.05)
    document = json.loads(summary.read_text())
    arrivals = document["arrivals"]
    assert arrivals["dropped"] == 0
    assert arrivals["achieved_rate"] == pytest.approx(200, rel=0.05)
    assert document["total"]["rps"] == pytest.approx(200, rel=0.05)
    full_seconds = [p for p in document["timeline"] if p["start"] + p["span"] <= 4.0]
    assert len(full_seconds) >= 3
    for point in full_seconds:
        # responses near a tick may land on either side of it: a looser bound per second
        assert point["requests"] / point["span"] == pytest.approx(200, rel=0.10)


def test_a_slow_server_does_not_slow_the_load(slow_server: str, tmp_path: Path) -> None:
    """Against 150 ms responses the rate still holds (no closed loop), with latency ≥ 150 ms."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "single.py"),
        "--host",
        slow_server,
        "--rate",
        "60",
        "--duration",
        "3s",
        "--json",
        str(summary),
        "-t",
        "p50>=150ms",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(summary.read_text())
    assert document["total"]["rps"] == pytest.approx(60, rel=0.05)
    assert document["arrivals"]["dropped"] == 0
    assert max(point["users"] for point in document["timeline"]) >= 5  # iterations overlapped


def test_rate_out_of_reach_is_a_failed_run_exit_3(slow_server: str, tmp_path: Path) -> None:
    """Two iterations in flight at 150 ms each cap the rate near 13/s: 50/s is a failed run."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "single.py"),
        "--host",
        slow_server,
        "--rate",
        "50",
        "--duration",
        "2s",
        "--max-in-flight",
        "2",
        "-t",
        "p95<10s",
        "--json",
        str(summary),
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "could not reach 50 req/s" in result.stderr
    document = json.loads(summary.read_text())
    assert document["arrivals"]["dropped"] > 50


def test_latency_counts_from_the_intended_start(fast_server: str, tmp_path: Path) -> None:
    """A 0.5 s client freeze delays the iterations due meanwhile; their latency includes it."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "stall.py"),
        "--host",
        fast_server,
        "--rate",
        "50",
        "--duration",
        "3s",
        "--json",
        str(summary),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(summary.read_text())
    total = document["total"]
    assert document["arrivals"]["max_lag_ms"] >= 400
    assert total["max"] >= 400  # the server answered fast; the wait was the generator's
    assert total["p95"] >= 150
    assert total["p50"] < 50


def test_ramping_rate_follows_its_stages(fast_server: str, tmp_path: Path) -> None:
    """`--rate 1s:100,2s:100` sends 50 requests in the ramp, then 100/s: 250 in all within 5 %."""
    summary = tmp_path / "summary.json"
    before = server_requests(fast_server)
    result = run_load(
        str(SCENARIOS / "single.py"),
        "--host",
        fast_server,
        "--rate",
        "1s:100,2s:100",
        "--json",
        str(summary),
        "--metrics-path",
        "",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert server_requests(fast_server) - before == pytest.approx(250, rel=0.05)
    document = json.loads(summary.read_text())
    assert document["arrivals"]["intended"] == 250
    first, *rest = document["timeline"]
    assert first["requests"] == pytest.approx(50, abs=8)
    assert rest[0]["requests"] / rest[0]["span"] == pytest.approx(100, rel=0.10)


def test_open_model_aborts_on_breach(slow_server: str, tmp_path: Path) -> None:
    """A 20 s open-model run against 150 ms responses stops soon after p95<50ms breaks."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "single.py"),
        "--host",
        slow_server,
        "--rate",
        "20",
        "--duration",
        "20s",
        "-t",
        "p95<50ms",
        "--abort-on-breach",
        "--abort-grace",
        "1s",
        "--json",
        str(summary),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    document = json.loads(summary.read_text())
    assert document["aborted_by"] == "p95<50ms"
    assert document["duration"] < 6
    assert document["arrivals"]["intended"] < 120
