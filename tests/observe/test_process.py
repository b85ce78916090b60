"""Process sampling: RSS and CPU from psutil, event-loop lag from a late wake-up."""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import CollectorRegistry

from overdrive.observe.measurements import Measurements, read_totals
from overdrive.observe.metrics import OverdriveMetrics
from overdrive.observe.process import ProcessSampler
from overdrive.observe.rules import AlertRule
from overdrive.observe.shared_windows import SharedWindows
from overdrive.observe.sketches import LatencyWindows


async def test_blocking_code_shows_as_event_loop_lag() -> None:
    """A 300 ms blocking call makes the next wake-up late by about that much."""
    metrics = OverdriveMetrics(CollectorRegistry())
    sampler = ProcessSampler(metrics.process, interval=0.01)
    task = asyncio.create_task(sampler.run())
    await asyncio.sleep(0.05)
    assert sampler.lag < 0.2
    time.sleep(0.3)  # noqa: ASYNC251 - the blocking call the lag must reveal
    for _ in range(3):  # the sampler's overdue wake-up runs first
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    lags = read_totals(metrics.registry.collect()).scalars
    assert sampler.lag >= 0.25
    assert lags["overdrive_event_loop_lag_seconds"] == sampler.lag
    assert sampler.resident_memory > 10_000_000


async def test_memory_and_lag_measures_feed_the_alerts() -> None:
    """memory_fraction is RSS over the configured limit; event_loop_lag is the gauge."""
    metrics = OverdriveMetrics(CollectorRegistry())
    sampler = ProcessSampler(metrics.process)
    sampler.sample_resources()
    sampler.record_lag(0.25)
    limit = sampler.resident_memory // 2
    measurements = Measurements(SharedWindows(LatencyWindows()), metrics.registry.collect,
                                memory_limit=limit)
    measurements.refresh()
    memory = AlertRule("Memory", "memory_fraction", ">", 0.8)
    lag = AlertRule("Lag", "event_loop_lag", ">", 0.1)
    assert measurements.value(memory) is not None
    assert measurements.value(memory) >= 1.5  # type: ignore[operator]
    assert measurements.value(lag) == 0.25
    no_limit = Measurements(SharedWindows(LatencyWindows()), metrics.registry.collect)
    no_limit.refresh()
    assert no_limit.value(memory) is None
