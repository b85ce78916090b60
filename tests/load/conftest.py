"""Real targets for the load tests: uvicorn serving tests/load/apps.py in child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def _serve(delay_ms: int) -> Iterator[str]:
    port = free_port()
    environment = {
        **os.environ,
        "OVERDRIVE_TEST_DELAY_MS": str(delay_ms),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.load.apps:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=environment,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def fast_server() -> Iterator[str]:
    """A target answering in well under a millisecond."""
    yield from _serve(0)


@pytest.fixture(scope="session")
def slow_server() -> Iterator[str]:
    """A target that takes 150 ms per response."""
    yield from _serve(150)


def run_load(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`overdrive load ...` as a user runs it: a separate process, real exit code."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-c", "from overdrive.cli import main; main()", "load", *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd or ROOT,
        env=environment,
    )
