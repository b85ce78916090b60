"""This worker's memory, CPU and event-loop lag, sampled by a background task.

Event-loop lag is how late a `sleep(interval)` wakes up: the time callbacks waited
behind blocking code. It is the first number to look at when p99 rises but the
database and cache look fine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import psutil

from overdrive.observe.metrics import ProcessMetrics

__all__ = ["ProcessSampler"]


class ProcessSampler:
    """Samples RSS and CPU with psutil and measures event-loop lag every `interval` seconds."""

    def __init__(self, metrics: ProcessMetrics, interval: float = 0.5,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self.process = psutil.Process()
        self.lag = 0.0
        self.resident_memory = 0

    def sample_resources(self) -> None:
        self.resident_memory = self.process.memory_info().rss
        times = self.process.cpu_times()
        self.metrics.resident_memory.set(self.resident_memory)
        self.metrics.cpu_seconds.set(times.user + times.system)

    def record_lag(self, lag: float) -> None:
        self.lag = max(lag, 0.0)
        self.metrics.event_loop_lag.set(self.lag)

    async def run(self) -> None:
        """Until cancelled: sleep, note how late the wake-up was, sample resources."""
        while True:
            expected = self.clock() + self.interval
            await asyncio.sleep(self.interval)
            self.record_lag(self.clock() - expected)
            self.sample_resources()
