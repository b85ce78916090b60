"""Statement latency histogram and pool gauges straight from SQLAlchemy engines.

Query insight counts statements per request and keeps the slow ones; what Prometheus
needs besides is the latency *distribution* of every statement and the pool's state,
which SQLAlchemy's own events and pool expose. Timings are tallied as plain numbers and
copied into the histogram by `flush()` (once a second and before a scrape), like the
HTTP tallies, so the cursor-execute hook costs two clock reads and a list bump.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

from overdrive.observe.metrics import DatabaseMetrics

__all__ = ["EngineInstrument"]

_STARTED = "overdrive_started"


class EngineInstrument:
    """Times every statement of `engines` (sync or async SQLAlchemy engines) and reads pools.

        instrument = EngineInstrument(metrics.db, [engine])
        ...
        instrument.flush()
    """

    def __init__(self, metrics: DatabaseMetrics, engines: Any = ()) -> None:
        from sqlalchemy import event

        self.metrics = metrics
        self.bounds = [*metrics.statement_duration._upper_bounds]
        self.counts = [0.0] * (len(self.bounds) + 1)
        self.engines = [getattr(engine, "sync_engine", engine) for engine in engines]
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._before)
            event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                context: Any, executemany: bool) -> None:
        conn.info.setdefault(_STARTED, []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any,
               context: Any, executemany: bool) -> None:
        started = conn.info.get(_STARTED)
        if not started:
            return
        seconds = time.perf_counter() - started.pop()
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.counts[-1] += seconds

    def flush(self) -> None:
        counts, self.counts = self.counts, [0.0] * (len(self.bounds) + 1)
        histogram = self.metrics.statement_duration
        for index, in_bucket in enumerate(counts[:-1]):
            if in_bucket:
                # prometheus-client has no batch observe: add to the bucket values directly.
                histogram._buckets[index].inc(in_bucket)
        if counts[-1]:
            histogram._sum.inc(counts[-1])
        in_use = size = overflow = 0.0
        for engine in self.engines:
            pool = engine.pool
            in_use += _call(pool, "checkedout")
            size += _call(pool, "size")
            overflow += max(_call(pool, "overflow"), 0.0)
        if self.engines:
            self.metrics.pool_in_use.set(in_use)
            self.metrics.pool_size.set(size)
            self.metrics.pool_overflow.set(overflow)

    def close(self) -> None:
        from sqlalchemy import event

        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._before)
            event.remove(engine, "after_cursor_execute", self._after)
        self.engines = []


def _call(pool: Any, name: str) -> float:
    """Pools differ (NullPool, StaticPool have no size): absent means zero."""
    method = getattr(pool, name, None)
    try:
        return float(method()) if method is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
