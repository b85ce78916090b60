"""The console script answers --help and --version through rich output."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from overdrive.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_prints_the_installed_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert version("overdrive") in result.stdout


def test_help_lists_the_bench_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "bench" in result.stdout


def test_python_dash_m_runs_the_same_command() -> None:
    """`python -m overdrive` and `python -m overdrive.cli` are the console script too."""
    for module in ("overdrive", "overdrive.cli"):
        result = subprocess.run([sys.executable, "-m", module, "--version"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert version("overdrive") in result.stdout
