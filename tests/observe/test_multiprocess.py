"""Multi-process metrics: real worker processes, aggregation, and dead workers' files folded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from overdrive.observe.multiprocess import MultiprocessDirectory
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]

WORKER = '''
import sys
from overdrive.observe.multiprocess import MultiprocessDirectory
MultiprocessDirectory(sys.argv[1]).activate()
from overdrive.observe.metrics import OverdriveMetrics
metrics = OverdriveMetrics()
for _ in range(int(sys.argv[2])):
    metrics.http.requests.labels("GET", "/a", "200").inc()
    metrics.http.duration.labels("GET", "/a").observe(0.02)
metrics.process.resident_memory.set(1000)
'''


def total(text: str, name: str) -> float:
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples if s.name == name)


def run_worker(directory: Path, count: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run([sys.executable, "-c", WORKER, str(directory), str(count)], check=True,
                   env=env, timeout=60)


def test_dead_workers_are_folded_into_the_archive_and_totals_stay(tmp_path: Path) -> None:
    """After compaction the dead workers' files are gone, counters keep their totals."""
    directory = MultiprocessDirectory(tmp_path)
    run_worker(tmp_path, 5)
    run_worker(tmp_path, 3)
    before = directory.exposition().decode()
    assert total(before, "overdrive_http_requests_total") == 8
    assert len(directory.worker_files()) >= 4
    removed = directory.compact()
    assert removed >= 4
    names = sorted(Path(f).name for f in directory.worker_files())
    assert names == ["counter_archive.db", "histogram_archive.db"]
    after = directory.exposition().decode()
    assert total(after, "overdrive_http_requests_total") == 8
    assert total(after, "overdrive_http_request_duration_seconds_count") == 8
    assert total(after, "overdrive_process_resident_memory_bytes") == 0
    run_worker(tmp_path, 2)
    directory.compact()
    assert total(directory.exposition().decode(), "overdrive_http_requests_total") == 10
    assert directory.compact() == 0


def test_a_live_worker_is_never_compacted(tmp_path: Path) -> None:
    """Files of this (live) process stay where they are."""
    (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"")
    assert MultiprocessDirectory(tmp_path).compact() == 0
    assert (tmp_path / f"counter_{os.getpid()}.db").exists()


def eventually(read: Callable[[], float], expected: float, within: float = 15.0) -> bool:
    """True once `read()` returns `expected`; the last value is shown if it never does."""
    deadline = time.monotonic() + within
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    assert value == expected
    return True


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]], Path]]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    urls, processes = [], []
    for _ in range(2):
        port = free_port()
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "tests.observe.workerapp:create",
             "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            wait_up(url + "/healthz")
        yield urls, processes, tmp_path
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.slow
def test_two_worker_processes_are_scraped_and_merged_as_one(
    two_workers: tuple[list[str], list[subprocess.Popen[bytes]], Path],
) -> None:
    """Either worker's /metrics and feed report both workers; a killed worker's counts stay."""
    urls, processes, directory = two_workers
    pids = set()
    for index, count in ((0, 20), (1, 30)):
        for item in range(1, count + 1):
            pids.add(httpx.get(f"{urls[index]}/items/{item}", timeout=5).json()["pid"])
    assert len(pids) == 2
    # Each worker copies its tallies and sketches to the shared folder once a second.
    for url in urls:
        assert eventually(lambda url=url: total(httpx.get(url + "/metrics").text,
                                                "overdrive_http_requests_total"), 50)
    assert eventually(lambda: httpx.get(urls[0] + "/_overdrive/feed.json").json()
                      ["summary"]["5m"]["count"], 50)
    feed = httpx.get(urls[0] + "/_overdrive/feed.json").json()
    assert feed["summary"]["5m"]["p99"] >= 0.1  # the slow tail from both workers
    assert eventually(lambda: total(httpx.get(urls[1] + "/metrics").text,
                                    "overdrive_cache_requests_total"), 50)

    processes[1].kill()
    processes[1].wait(timeout=10)
    dead = processes[1].pid
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
        Path(f).stem.endswith(f"_{dead}") for f in MultiprocessDirectory(directory).worker_files()
    ):
        time.sleep(0.2)
    leftovers = [f for f in MultiprocessDirectory(directory).worker_files()
                 if Path(f).stem.endswith(f"_{dead}")]
    assert leftovers == []
    assert total(httpx.get(urls[0] + "/metrics").text, "overdrive_http_requests_total") == 50


FORKING = '''
import os, sys
from overdrive.observe.multiprocess import MultiprocessDirectory
MultiprocessDirectory(sys.argv[1]).activate()
from overdrive.observe.metrics import OverdriveMetrics
metrics = OverdriveMetrics()                      # created before the fork, as with --preload
metrics.http.requests.labels("GET", "/a", "200").inc()
children = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        metrics.http.requests.labels("GET", "/a", "200").inc(5)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print(",".join(map(str, children)))
'''


def test_metrics_created_before_fork_count_per_child(tmp_path: Path) -> None:
    """Metrics made in a parent and incremented in forked children land in the children's files."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run([sys.executable, "-c", FORKING, str(tmp_path)], check=True,
                            env=env, timeout=60, capture_output=True, text=True)
    children = result.stdout.strip().split(",")
    for child in children:
        assert (tmp_path / f"counter_{child}.db").exists()
    directory = MultiprocessDirectory(tmp_path)
    assert total(directory.exposition().decode(), "overdrive_http_requests_total") == 11
    directory.compact()
    assert total(directory.exposition().decode(), "overdrive_http_requests_total") == 11
