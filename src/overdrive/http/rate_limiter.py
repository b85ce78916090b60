"""GCRA rate limiters: one Lua script on Redis, or process memory when there is no Redis.

The generic cell rate algorithm keeps one number per client, the theoretical arrival time
(TAT), so each decision is O(1) in time and memory whatever the limit: `100/minute` and
`100000/day` cost the same. On Redis the read-decide-write is one Lua script (atomic, one
round trip, Redis' clock so every process agrees). The `limits` library was not used on
the hot path: its moving window keeps a list per client (O(limit) memory) and its fixed
window lets a client burst twice the limit across a window edge, and
`benchmarks/rate_limit_gcra_vs_limits.py` shows GCRA deciding at least as fast.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from overdrive.errors import ConfigurationError

__all__ = ["GCRA_SCRIPT", "MemoryRateLimiter", "Rate", "RateLimitResult", "RateLimiter",
           "RedisRateLimiter"]

logger = logging.getLogger("overdrive.http.rate_limit")

_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_RATE = re.compile(
    r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Rate:
    """`limit` requests per `period` seconds, bursts up to `limit` allowed."""

    limit: int
    period: float

    @classmethod
    def parse(cls, value: str | Rate) -> Rate:
        """`"100/minute"`, `"10 per second"`, `"1000/5 minutes"`."""
        if isinstance(value, Rate):
            return value
        match = _RATE.match(value) if isinstance(value, str) else None
        if match is None:
            raise ConfigurationError(f"rate limit {value!r} is not like '100/minute'")
        limit, multiplier, unit = match.groups()
        rate = cls(int(limit), float(multiplier or 1) * _UNITS[unit.lower()])
        if rate.limit < 1 or rate.period <= 0:
            raise ConfigurationError(f"rate limit {value!r} must allow at least one request")
        return rate

    @property
    def interval(self) -> float:
        """Seconds between two requests at the sustained rate (the emission interval)."""
        return self.period / self.limit

    @property
    def name(self) -> str:
        return f"{self.limit}/{self.period:g}s"


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    """Seconds until one more request would be allowed (0 when allowed)."""
    reset: float
    """Seconds until the full quota is available again."""


class RateLimiter(Protocol):
    async def hit(self, key: str, rate: Rate) -> RateLimitResult: ...


# KEYS[1] = the client's TAT (milliseconds, Redis clock); ARGV = interval ms, period ms.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, tostring(allow_at - now), tostring(tat - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now))
return {1, math.floor((period - (new_tat - now)) / interval + 1e-6), '0', tostring(new_tat - now)}
"""


class RedisRateLimiter:
    """Counters shared by every process through Redis (redis.asyncio, never blocking)."""

    def __init__(self, client: Any, *, prefix: str = "overdrive:rl") -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(GCRA_SCRIPT)

    async def hit(self, key: str, rate: Rate) -> RateLimitResult:
        allowed, remaining, retry_ms, reset_ms = await self._script(
            keys=[f"{self.prefix}:{rate.name}:{key}"],
            args=[rate.interval * 1000, rate.period * 1000],
        )
        return RateLimitResult(
            allowed=bool(int(allowed)),
            limit=rate.limit,
            remaining=max(0, int(remaining)),
            retry_after=float(retry_ms) / 1000,
            reset=float(reset_ms) / 1000,
        )


class MemoryRateLimiter:
    """The same GCRA in process memory: limits are then per worker process."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000, warn: bool = True) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}
        if warn:
            logger.warning(
                "rate limiting without Redis: limits are counted PER WORKER PROCESS, so N "
                "workers allow N times the limit; pass a Redis URL to share them"
            )

    async def hit(self, key: str, rate: Rate) -> RateLimitResult:
        now = self.clock()
        full_key = f"{rate.name}:{key}"
        tat = max(self._tat.get(full_key, now), now)
        new_tat = tat + rate.interval
        allow_at = new_tat - rate.period
        if now < allow_at:
            return RateLimitResult(False, rate.limit, 0, allow_at - now, tat - now)
        if len(self._tat) >= self.max_keys:
            self._evict(now)
        self._tat[full_key] = new_tat
        remaining = math.floor((rate.period - (new_tat - now)) / rate.interval + 1e-9)
        return RateLimitResult(True, rate.limit, remaining, 0.0, new_tat - now)

    def _evict(self, now: float) -> None:
        # A TAT in the past carries no state (the client is back to a full quota).
        for key in [key for key, tat in self._tat.items() if tat <= now]:
            del self._tat[key]
        if len(self._tat) >= self.max_keys:
            self._tat.clear()
