"""`overdrive demo`: the whole tour, run as a user runs it, in its short mode."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg
import pytest
import redis

from overdrive.demo.drive import hit_ratio, read_hit_ratio
from overdrive.demo.memory import MIB, LinearMemory, MemoryAtSize

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"[\d,]+(?:\.\d+)?"


ENVIRONMENT = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "160", "NO_COLOR": "1"}
COMMAND = [sys.executable, "-c", "from overdrive.cli import main; main()"]


def _overdrive(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=ENVIRONMENT,
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
    # Plain has no /metrics, so its statements are the demo's count; optimised reads its own.
    queries = re.search(
        rf"│ DB queries per request +│ +({NUMBER}) \(demo counter\) │ +({NUMBER}) \(/metrics\) │",
        output,
    )
    assert queries is not None, output
    for row in (
        "cacheable reads answered from cache",
        "cacheable reads of a URL first asked now",
        "repeated cacheable reads answered from cache",
        "cache lookups that hit \\(all keys\\)",
    ):
        assert re.search(rf"│ {row} +│ +n/a \(no cache\) │ +[\d.]+% │", output), output
    assert re.search(r"│ server memory \(RSS\) +│ +[\d,]+ MiB │ +[\d,]+ MiB │", output), output
    assert "version list p95 < 1 s" in output
    memory = re.search(
        rf"│ memory at most linear in versions \(\+25%\) +│ +n/a │ +({NUMBER}) → ({NUMBER}) "
        rf"MiB/1k versions \(({NUMBER}) → ({NUMBER})\) (met|missed) │",
        output,
    )
    assert memory is not None, output
    small, large = (int(v.replace(",", "")) for v in memory.groups()[2:4])
    assert 0 < small < large
    for mode in ("plain", "optimised"):
        report = reports / f"{mode}.html"
        assert report.is_file()
        assert "list versions" in report.read_text(encoding="utf-8")


@pytest.mark.timeout(150)
def test_quick_demo_on_postgres_and_redis_leaves_nothing_behind(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """On Postgres + Redis both modes are measured, and the run's schemas and keys go."""
    result = _overdrive(
        "demo",
        "--quick",
        "--duration",
        "6",
        "--database-url",
        postgres_url,
        "--redis-url",
        redis_url,
        "--report-dir",
        str(tmp_path),
        cwd=ROOT,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(rf"│ requests/s +│ +({NUMBER}) │ +({NUMBER}) │", output), output
    assert re.search(
        r"│ cacheable reads answered from cache +│ +n/a \(no cache\) │ +[\d.]+% │", output
    )
    run_id = re.search(r"schemas of this run: overdrive_demo_([0-9a-f]+)_\*", output)
    assert run_id is not None, output
    client = redis.Redis.from_url(redis_url)
    try:
        assert not list(client.scan_iter(match=f"*overdrive-demo-{run_id.group(1)}-*"))
    finally:
        client.close()
    assert asyncio.run(_count_schemas(postgres_url, f"overdrive_demo_{run_id.group(1)}_%")) == 0


async def _count_schemas(url: str, pattern: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        query = "select count(*) from pg_namespace where nspname like $1"
        return int(await connection.fetchval(query, pattern))
    finally:
        await connection.close()


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
    """Lookups any tier served over lookups made (L1's, which every lookup asks first),
    between snapshots; None without a cache or without lookups."""
    before = {"l1_hits": 10, "l1_misses": 10, "l2_hits": 0, "l2_misses": 10,
              "l1_max_bytes": 1 << 20}
    after = {"l1_hits": 50, "l1_misses": 30, "l2_hits": 10, "l2_misses": 20,
             "l1_max_bytes": 1 << 20}
    assert hit_ratio(before, after) == pytest.approx((40 + 10) / (40 + 20))
    l2_only = {"l1_hits": 0, "l1_misses": 0, "l1_max_bytes": 0}
    assert hit_ratio({**before, **l2_only}, {**after, **l2_only}) == pytest.approx(10 / 20)
    assert hit_ratio({}, {}) is None
    assert hit_ratio(before, before) is None


def test_read_hit_ratio_counts_fresh_and_stale_answers_over_lookups() -> None:
    """Response-cache hits and stale answers over all its lookups between two snapshots."""
    before = {"hit": 5, "stale": 0, "miss": 5, "bypass": 3, "stored": 5}
    after = {"hit": 35, "stale": 10, "miss": 25, "bypass": 90, "stored": 20}
    assert read_hit_ratio(before, after) == pytest.approx(40 / 60)
    assert read_hit_ratio({}, {}) is None
    assert read_hit_ratio(before, before) is None


@pytest.mark.timeout(150)
def test_quick_demo_serves_the_optimised_app_until_interrupted(tmp_path: Path) -> None:
    """--serve prints the app's URL after the tables, the app answers there, SIGINT ends 0."""
    process = subprocess.Popen(
        [*COMMAND, "demo", "--quick", "--duration", "4", "--serve", "--report-dir", str(tmp_path)],
        cwd=ROOT,
        env=ENVIRONMENT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops it."):
                break
        else:
            pytest.fail("the demo did not start serving:\n" + "".join(lines))
        found = re.search(r"^app: (http://127\.0\.0\.1:\d+)/docs$", "".join(lines), re.M)
        assert found is not None, "".join(lines)
        base = found.group(1)
        assert any("CV-011 targets" in line for line in lines), "".join(lines)
        with urllib.request.urlopen(base + "/docs", timeout=10) as response:
            assert response.status == 200
        for label, path in (("dashboard", "/_overdrive"), ("metrics", "/metrics")):
            assert f"{label}: {base}{path}\n" in lines, "".join(lines)
            with urllib.request.urlopen(base + path, timeout=10) as response:
                assert response.status == 200, path
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(lines) + rest
    assert "stopped." in rest
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base + "/docs", timeout=2)


def test_memory_within_linear_growth_is_met() -> None:
    """Half the versions taking half the memory is linear; flat memory is under it."""
    small = MemoryAtSize(versions=1000, rss_idle_bytes=100 * MIB, rss_after_bytes=140 * MIB)
    linear = MemoryAtSize(versions=2000, rss_idle_bytes=100 * MIB, rss_after_bytes=180 * MIB)
    flat = MemoryAtSize(versions=2000, rss_idle_bytes=100 * MIB, rss_after_bytes=140 * MIB)
    assert LinearMemory(small, linear).met
    assert LinearMemory(small, flat).met
    assert LinearMemory(small, linear).show() == "40.00 → 40.00 MiB/1k versions (1,000 → 2,000)"


def test_memory_growing_faster_than_versions_is_missed() -> None:
    """Doubling versions and quadrupling memory taken on is beyond linear plus tolerance."""
    small = MemoryAtSize(versions=1000, rss_idle_bytes=100 * MIB, rss_after_bytes=140 * MIB)
    quadratic = MemoryAtSize(versions=2000, rss_idle_bytes=100 * MIB, rss_after_bytes=260 * MIB)
    assert not LinearMemory(small, quadratic).met


def test_memory_noise_floor_keeps_small_growth_from_failing() -> None:
    """A few MiB of allocator noise on a near-zero baseline does not count as growth."""
    small = MemoryAtSize(versions=1000, rss_idle_bytes=100 * MIB, rss_after_bytes=101 * MIB)
    noisy = MemoryAtSize(versions=2000, rss_idle_bytes=100 * MIB, rss_after_bytes=110 * MIB)
    assert LinearMemory(small, noisy).met
    with pytest.raises(ValueError, match=r"small\.versions < large\.versions"):
        LinearMemory(noisy, small)
