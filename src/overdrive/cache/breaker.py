"""A circuit breaker in front of Redis: stop hammering a dead server, recover by itself.

Closed: calls go through. After `failure_threshold` consecutive failures: open, calls
are refused at once (the cache degrades to L1 and the loader). After `reset_timeout`:
half-open, one probe goes through; success closes, failure re-opens with a longer
timeout (doubling up to `max_reset_timeout`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitBreaker:
    __slots__ = (
        "_clock",
        "_failures",
        "_opened_at",
        "_probing",
        "_timeout",
        "failure_threshold",
        "max_reset_timeout",
        "opened_count",
        "reset_timeout",
        "state",
    )

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 1.0,
        max_reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.max_reset_timeout = max_reset_timeout
        self._clock = clock
        self.state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._timeout = reset_timeout
        self._probing = False
        self.opened_count = 0

    def allow(self) -> bool:
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if self._clock() - self._opened_at < self._timeout:
                return False
            self.state = HALF_OPEN
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        if self.state != CLOSED:
            self.state = CLOSED
            self._timeout = self.reset_timeout
            self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self.state == HALF_OPEN:
            self._timeout = min(self._timeout * 2, self.max_reset_timeout)
            self._trip()
        elif self.state == CLOSED and self._failures >= self.failure_threshold:
            self._trip()

    def _trip(self) -> None:
        self.state = OPEN
        self._opened_at = self._clock()
        self._probing = False
        self.opened_count += 1
