"""Connection-pool gauges and the time callers wait for a connection.

Size, checked-out and overflow come from the pool itself. Waiting has no SQLAlchemy
event (there is `checkout`, but nothing marks the start of the wait), so the engine's
pool gets its `connect` wrapped: the time spent inside it is the wait, including the
connect of a fresh connection. `engine.dispose()` replaces the pool; the new one is
wrapped at the next request scope or snapshot. (Not through the `engine_disposed` event:
any engine-level listener moves every statement onto SQLAlchemy's slower event path.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

__all__ = ["PoolMetrics"]

_WRAPPED = "_overdrive_connect_wrapped"


class PoolMetrics:
    """Gauges (size, checked out, overflow) and counters (waits, wait time) for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.waits = 0
        self.wait_ms_total = 0.0
        self.wait_ms_max = 0.0
        self.lock = threading.Lock()
        self._wrap(engine.pool)

    def ensure_wrapped(self) -> None:
        if not getattr(self.engine.pool, _WRAPPED, False):
            self._wrap(self.engine.pool)

    def _wrap(self, pool: Pool) -> None:
        if getattr(pool, _WRAPPED, False):
            return
        connect: Callable[[], Any] = pool.connect

        def timed_connect() -> Any:
            started = time.perf_counter()
            try:
                return connect()
            finally:
                self._observe((time.perf_counter() - started) * 1000.0)

        pool.connect = timed_connect  # type: ignore[method-assign]
        setattr(pool, _WRAPPED, True)

    def _observe(self, waited_ms: float) -> None:
        with self.lock:
            self.waits += 1
            self.wait_ms_total += waited_ms
            self.wait_ms_max = max(self.wait_ms_max, waited_ms)

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready gauges; pools without a size (NullPool, StaticPool) report None."""
        self.ensure_wrapped()
        pool = self.engine.pool

        def gauge(name: str) -> int | None:
            method = getattr(pool, name, None)
            return int(method()) if callable(method) else None

        return {
            "pool_class": type(pool).__name__,
            "size": gauge("size"),
            "checked_out": gauge("checkedout"),
            "checked_in": gauge("checkedin"),
            "overflow": gauge("overflow"),
            "waits": self.waits,
            "wait_ms_total": round(self.wait_ms_total, 3),
            "wait_ms_max": round(self.wait_ms_max, 3),
        }

    def close(self) -> None:
        """Leave the wrapper: it only counts, and unwrapping could drop a concurrent wait."""
