"""`overdrive load` end to end against real local servers: exit codes 0, 1, 2 and 3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.load.conftest import ROOT, SCENARIOS, run_load
from tests.servers import free_port

pytestmark = pytest.mark.slow


def test_help_lists_the_load_command() -> None:
    """The main command registers `load`, with the exit codes in its help."""
    result = run_load("--help")
    assert result.returncode == 0
    assert "--threshold" in result.stdout
    assert "Exit codes" in result.stdout


def test_thresholds_hold_exit_0(fast_server: str, tmp_path: Path) -> None:
    """A fast server meets every budget: exit 0, and the summary has routes and server figures."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "reader.py"),
        "--host",
        fast_server,
        "--users",
        "4",
        "--duration",
        "2s",
        "-t",
        "p95<200ms",
        "-t",
        "error_rate<1%",
        "-t",
        "rps>10",
        "-t",
        "route:/items/{id}:p99<500ms",
        "--json",
        str(summary),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(summary.read_text())
    assert document["verdict"] == "passed"
    assert set(document["routes"]) == {"/", "/items/{id}"}
    assert document["routes"]["/items/{id}"]["requests"] > document["routes"]["/"]["requests"]
    assert all(result["passed"] for result in document["thresholds"])
    assert document["server"]["cache_hit_ratio"] == pytest.approx(0.75)
    assert document["server"]["db_statements_per_request"] == pytest.approx(2.0, rel=0.05)
    assert "pass" in result.stdout


def test_classic_http_user_runs_unchanged(fast_server: str, tmp_path: Path) -> None:
    """A requests-based HttpUser locustfile runs as is and is measured per route."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "classic.py"),
        "--host",
        fast_server,
        "--users",
        "2",
        "--duration",
        "2s",
        "-t",
        "route:/items/{id}:p95<200ms",
        "--json",
        str(summary),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(summary.read_text())["routes"]["/items/{id}"]["requests"] > 20


def test_slow_server_breaks_the_budget_exit_1(slow_server: str, tmp_path: Path) -> None:
    """150 ms responses break p95<100ms: exit 1, with the observed p95 reported."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "reader.py"),
        "--host",
        slow_server,
        "--users",
        "4",
        "--duration",
        "2s",
        "-t",
        "p95<100ms",
        "-t",
        "error_rate<1%",
        "--json",
        str(summary),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    p95, errors = json.loads(summary.read_text())["thresholds"]
    assert not p95["passed"]
    assert p95["observed"] >= 150
    assert errors["passed"]
    assert "FAIL" in result.stdout


def test_abort_on_breach_stops_early(slow_server: str, tmp_path: Path) -> None:
    """With --abort-on-breach a 20 s run ends within seconds of the breach, exit 1."""
    summary = tmp_path / "summary.json"
    started = time.monotonic()
    result = run_load(
        str(SCENARIOS / "reader.py"),
        "--host",
        slow_server,
        "--users",
        "2",
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
    assert time.monotonic() - started < 15
    document = json.loads(summary.read_text())
    assert document["aborted_by"] == "p95<50ms"
    assert document["duration"] < 10


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--users", "2", "--duration", "1s", "-t", "p95<fast"], "is not a latency"),
        (["--users", "2", "-t", "p95<1s"], "needs --duration"),
        (["--users", "2", "--rate", "5", "--duration", "1s"], "exactly one load shape"),
        (["--stages", "1s"], "write <duration>:<users>"),
        (["--rate", "fast", "--duration", "1s"], "write iterations per second"),
        (["--rate", "1s:10", "--duration", "1s"], "ramping --rate carries its own durations"),
        (["--users", "2", "--duration", "1s", "--baseline", "absent.json"], "no baseline at"),
        (["--users", "2", "--duration", "1s", "--workers", "-1"], "--workers must be at least 0"),
    ],
)
def test_usage_errors_exit_2(fast_server: str, arguments: list[str], message: str) -> None:
    """Bad arguments are caught before any load: exit 2 and a message saying what is wrong."""
    result = run_load(str(SCENARIOS / "reader.py"), "--host", fast_server, *arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())


def test_unusable_scenarios_exit_2(fast_server: str, tmp_path: Path) -> None:
    """Missing files, broken YAML and a non-loopback scenario host are usage errors."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("endpoints:\n  - path: /items/{id}\n")
    cases = [
        ([str(tmp_path / "absent.py"), "--host", fast_server], "no scenario file"),
        ([str(broken), "--host", fast_server], "path parameter {id} has no values"),
        ([str(SCENARIOS / "remote.py")], "not this machine: pass --host"),
        ([str(SCENARIOS / "broken.py"), "--host", fast_server], "scenario setup failed"),
        (
            [str(SCENARIOS / "reader.py"), "--host", fast_server, "--user-class", "Nobody"],
            "has no user class ['Nobody']",
        ),
    ]
    for arguments, message in cases:
        result = run_load(*arguments, "--users", "1", "--duration", "1s")
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in " ".join(result.stderr.split())


def test_unreachable_target_exit_3(tmp_path: Path) -> None:
    """Nothing listening on the port: the run itself failed, exit 3, said plainly."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "reader.py"),
        "--host",
        f"http://127.0.0.1:{free_port()}",
        "--users",
        "2",
        "--duration",
        "2s",
        "-t",
        "p95<200ms",
        "--json",
        str(summary),
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "target unreachable" in result.stderr
    assert json.loads(summary.read_text())["verdict"] == "run failed"


def test_a_scenario_without_requests_exit_3(fast_server: str) -> None:
    """A run that measured nothing is a failed run, not a pass with vacuous thresholds."""
    result = run_load(
        str(SCENARIOS / "idle.py"),
        "--host",
        fast_server,
        "--users",
        "2",
        "--duration",
        "1s",
        "-t",
        "p95<200ms",
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "made no requests" in result.stderr


def test_yaml_scenario_runs_with_named_routes(fast_server: str, tmp_path: Path) -> None:
    """The YAML form names each request by its path template and checks `expect`."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "reader.yaml"),
        "--host",
        fast_server,
        "--users",
        "3",
        "--duration",
        "2s",
        "-t",
        "route:/status/{code}:error_rate<1%",
        "--json",
        str(summary),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    routes = json.loads(summary.read_text())["routes"]
    assert set(routes) == {"/items/{id}", "/boards/{board}/feedback", "/status/{code}"}
    assert routes["/status/{code}"]["requests"] > 0


def test_unexpected_status_is_an_error(fast_server: str, tmp_path: Path) -> None:
    """An endpoint answering other than its `expect` counts failures and breaks error_rate."""
    scenario = tmp_path / "strict.yaml"
    scenario.write_text("endpoints:\n  - path: /items/1\n    expect: 204\n")
    summary = tmp_path / "summary.json"
    result = run_load(
        str(scenario),
        "--host",
        fast_server,
        "--users",
        "2",
        "--duration",
        "1s",
        "-t",
        "error_rate<1%",
        "--json",
        str(summary),
    )
    assert result.returncode == 1, result.stdout + result.stderr
    document = json.loads(summary.read_text())
    assert document["total"]["error_rate"] == 1.0
    assert any("expected status 204" in error for error in document["errors"])


def test_local_workers_share_the_load(fast_server: str, tmp_path: Path) -> None:
    """--workers 2 runs Locust's distributed mode locally; the master merges their histograms."""
    summary = tmp_path / "summary.json"
    result = run_load(
        str(SCENARIOS / "reader.py"),
        "--host",
        fast_server,
        "--users",
        "4",
        "--duration",
        "3s",
        "--workers",
        "2",
        "-t",
        "p95<500ms",
        "--json",
        str(summary),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(summary.read_text())
    assert document["workers"] == 2
    assert document["routes"]["/items/{id}"]["requests"] > 50
    assert document["total"]["p95"] > 0
    assert document["server"]["server_requests"] >= document["total"]["requests"]


def test_master_and_worker_commands(fast_server: str, tmp_path: Path) -> None:
    """`--master` waits for a `--worker HOST:PORT` started separately, as on two machines."""
    port = free_port()
    summary = tmp_path / "summary.json"
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from overdrive.cli import main; main()",
            "load",
            str(SCENARIOS / "reader.py"),
            "--worker",
            f"127.0.0.1:{port}",
            "--max-duration",
            "40s",
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = run_load(
            str(SCENARIOS / "reader.py"),
            "--host",
            fast_server,
            "--users",
            "2",
            "--duration",
            "2s",
            "--master",
            "--expect-workers",
            "1",
            "--master-port",
            str(port),
            "--json",
            str(summary),
        )
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(summary.read_text())
    assert document["workers"] == 1
    assert document["total"]["requests"] > 20
