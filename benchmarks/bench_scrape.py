"""Scrape cost of /metrics in multi-process mode with 8 workers, and what compaction saves.

Eight real worker processes each write the metrics of 20 routes (3 statuses each) to the
shared folder; the scrape merges their files. Then 40 restarted workers' files are left
behind, as happens after a day of `--max-requests` recycling: without compaction every
scrape reads them all; after `MultiprocessDirectory.compact()` they are one archive.

    python benchmarks/bench_scrape.py [--quick]
"""
# overdrive-bench: embedded

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ROUTES = 20


def worker(directory: str, ready: multiprocessing.synchronize.Event | None,
           stop: multiprocessing.synchronize.Event | None) -> None:
    from overdrive.observe.multiprocess import MultiprocessDirectory

    MultiprocessDirectory(directory).activate()
    from overdrive.observe.metrics import OverdriveMetrics

    metrics = OverdriveMetrics()
    for route in range(ROUTES):
        for status in ("200", "404", "500"):
            metrics.http.requests.labels("GET", f"/r{route}/{{id}}", status).inc(3)
        metrics.http.duration.labels("GET", f"/r{route}/{{id}}").observe(0.01 * (route + 1))
    metrics.process.resident_memory.set(50_000_000)
    metrics.http.in_flight.set(1)
    if ready is not None and stop is not None:
        ready.set()
        stop.wait()


def time_scrapes(directory: str, count: int) -> tuple[float, int]:
    from overdrive.observe.multiprocess import MultiprocessDirectory

    folder = MultiprocessDirectory(directory)
    samples, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        size = len(folder.exposition())
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    scrapes = 10 if parser.parse_args().quick else 30
    directory = tempfile.mkdtemp(prefix="od-scrape-")
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    live = []
    for _ in range(8):
        ready = context.Event()
        process = context.Process(target=worker, args=(directory, ready, stop))
        process.start()
        ready.wait(60)
        live.append(process)
    rows = []
    try:
        ms, size = time_scrapes(directory, scrapes)
        rows.append(("8 live workers", len(os.listdir(directory)), ms, size))
        for _ in range(40):  # restarted workers: they wrote, then exited
            dead = context.Process(target=worker, args=(directory, None, None))
            dead.start()
            dead.join()
        ms, size = time_scrapes(directory, scrapes)
        rows.append(("8 live + 40 dead, not compacted", len(os.listdir(directory)), ms, size))
        from overdrive.observe.multiprocess import MultiprocessDirectory

        started = time.perf_counter()
        removed = MultiprocessDirectory(directory).compact()
        compact_ms = (time.perf_counter() - started) * 1000
        ms, size = time_scrapes(directory, scrapes)
        rows.append(("8 live + 40 dead, compacted", len(os.listdir(directory)), ms, size))
    finally:
        stop.set()
        for process in live:
            process.join(10)
        shutil.rmtree(directory, ignore_errors=True)
    table = Table(title=f"/metrics scrape cost, multi-process mode ({ROUTES} routes per worker, "
                        f"median of {scrapes})")
    for column in ("workers' files", "files", "scrape ms", "body bytes"):
        table.add_column(column, justify="right")
    for label, files, ms, size in rows:
        table.add_row(label, str(files), f"{ms:.1f}", f"{size:,}")
    console = Console(width=120)
    console.print(table)
    console.print(f"compaction folded {removed} files in {compact_ms:.1f} ms; "
                    f"scrape cost with compaction is {rows[2][2] / rows[1][2]:.0%} of without")


if __name__ == "__main__":
    main()
