"""`overdrive demo`: the whole tour, run as a user runs it, in its short mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from overdrive.demo.drive import hit_ratio

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[\d,]+(?:\.\d+)?"


def _overdrive(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "COLUMNS": "160",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-c", "from overdrive.cli import main; main()", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(120)
def test_quick_demo_prints_measured_figures_for_both_modes(tmp_path: Path) -> None:
    """--quick seeds, serves and loads both modes, prints real figures, writes both reports."""
    reports = tmp_path / "reports"
    result = _overdrive("demo", "--quick", "--report-dir", str(reports), cwd=ROOT, timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for route in ("list versions", "get version", "compare", "preview", "autosave"):
        row = re.search(
            rf"│ {route} +│ +({NUMBER}) → ({NUMBER}) │ +({NUMBER}) → ({NUMBER}) │", output
        )
        assert row is not None, f"no measured latencies for {route}:\n{output}"
        assert all(float(value.replace(",", "")) > 0 for value in row.groups())
    rps = re.search(rf"│ requests/s +│ +({NUMBER}) │ +({NUMBER}) │", output)
    assert rps is not None, output
    assert all(float(v.replace(",", "")) > 0 for v in rps.groups()), output
    queries = re.search(rf"│ DB queries per request +│ +({NUMBER}) │ +({NUMBER}) │", output)
    assert queries is not None, output
    assert re.search(r"│ cache hit ratio +│ +n/a \(no cache\) │ +[\d.]+% │", output), output
    assert re.search(r"│ server memory \(RSS\) +│ +[\d,]+ MiB │ +[\d,]+ MiB │", output), output
    assert "version list p95 < 1 s" in output
    for mode in ("plain", "optimised"):
        report = reports / f"{mode}.html"
        assert report.is_file()
        assert "list versions" in report.read_text(encoding="utf-8")


def test_demo_outside_a_checkout_says_where_to_run_it(tmp_path: Path) -> None:
    """Without examples/ in the current directory the demo exits 1 and says to use a checkout."""
    result = _overdrive("demo", "--quick", cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert "root of an Overdrive checkout" in " ".join(result.stdout.split())


def test_demo_refuses_a_too_short_duration() -> None:
    """A --duration under 4 s is refused before anything is seeded."""
    result = _overdrive("demo", "--duration", "1", cwd=ROOT, timeout=30)
    assert result.returncode == 1
    assert "--duration must be at least 4 s" in result.stdout


def test_hit_ratio_is_the_difference_of_two_counter_snapshots() -> None:
    """Hits over lookups between snapshots; None without a cache or without lookups."""
    before = {"l1_hits": 10, "l2_hits": 0, "misses": 10}
    after = {"l1_hits": 50, "l2_hits": 10, "misses": 20}
    assert hit_ratio(before, after) == pytest.approx(50 / 60)
    assert hit_ratio({}, {}) is None
    assert hit_ratio(before, before) is None
