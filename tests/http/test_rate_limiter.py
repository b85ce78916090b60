"""GCRA accuracy, in memory (fake clock) and on Redis (shared across processes)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import textwrap

import pytest
import redis.asyncio

from overdrive import ConfigurationError
from overdrive.http.rate_limiter import MemoryRateLimiter, Rate, RedisRateLimiter
from tests.http.conftest import FakeClock


@pytest.mark.parametrize(("text", "limit", "period"), [
    ("100/minute", 100, 60), ("10 per second", 10, 1), ("1000/5 minutes", 1000, 300),
    ("5/day", 5, 86400), ("3/hours", 3, 3600)])
def test_rates_parse(text: str, limit: int, period: float) -> None:
    """The usual spellings of a rate are understood."""
    assert Rate.parse(text) == Rate(limit, period)


@pytest.mark.parametrize("text", ["", "100", "0/minute", "ten/minute", "5/fortnight"])
def test_bad_rates_are_refused(text: str) -> None:
    """Anything else is a ConfigurationError naming the value."""
    with pytest.raises(ConfigurationError):
        Rate.parse(text)


async def test_memory_limit_refuses_the_n_plus_first(clock: FakeClock) -> None:
    """Exactly N requests pass in a burst; the N+1th is refused with its retry time."""
    limiter = MemoryRateLimiter(clock=clock, warn=False)
    rate = Rate(5, 60)
    results = [await limiter.hit("client", rate) for _ in range(6)]
    assert [r.allowed for r in results] == [True] * 5 + [False]
    assert [r.remaining for r in results[:5]] == [4, 3, 2, 1, 0]
    assert results[5].retry_after == pytest.approx(12)


async def test_memory_limit_refills_at_the_sustained_rate(clock: FakeClock) -> None:
    """After one emission interval exactly one more request is allowed."""
    limiter = MemoryRateLimiter(clock=clock, warn=False)
    rate = Rate(5, 60)
    for _ in range(5):
        await limiter.hit("client", rate)
    clock.advance(12)
    assert (await limiter.hit("client", rate)).allowed
    assert not (await limiter.hit("client", rate)).allowed
    clock.advance(60)
    assert (await limiter.hit("client", rate)).remaining == 4


async def test_memory_limits_are_per_client(clock: FakeClock) -> None:
    """One client's exhaustion does not touch another's quota."""
    limiter = MemoryRateLimiter(clock=clock, warn=False)
    rate = Rate(1, 60)
    assert (await limiter.hit("a", rate)).allowed
    assert not (await limiter.hit("a", rate)).allowed
    assert (await limiter.hit("b", rate)).allowed


async def test_memory_eviction_keeps_memory_bounded(clock: FakeClock) -> None:
    """Idle clients are forgotten when the table is full."""
    limiter = MemoryRateLimiter(clock=clock, max_keys=10, warn=False)
    for index in range(10):
        await limiter.hit(f"c{index}", Rate(10, 10))
    clock.advance(100)
    await limiter.hit("new", Rate(10, 10))
    assert len(limiter._tat) == 1


def test_memory_limiter_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    """Without Redis the limiter says limits are per worker process."""
    with caplog.at_level(logging.WARNING, logger="overdrive.http.rate_limit"):
        MemoryRateLimiter()
    assert "PER WORKER PROCESS" in caplog.text


async def test_redis_limit_refuses_the_n_plus_first(redis_url: str, namespace: str) -> None:
    """On Redis the same GCRA lets N through and refuses the N+1th."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        limiter = RedisRateLimiter(client, prefix=namespace)
        results = [await limiter.hit("ip", Rate(10, 60)) for _ in range(11)]
    finally:
        await client.aclose()
    assert [r.allowed for r in results] == [True] * 10 + [False]
    assert results[0].remaining == 9
    assert 0 < results[10].retry_after <= 6.01


async def test_redis_limit_is_atomic_under_concurrency(redis_url: str, namespace: str) -> None:
    """Concurrent hits never let more than N through (one Lua script per decision)."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        limiter = RedisRateLimiter(client, prefix=namespace)
        results = await asyncio.gather(*(limiter.hit("ip", Rate(20, 3600)) for _ in range(60)))
    finally:
        await client.aclose()
    assert sum(r.allowed for r in results) == 20


@pytest.mark.slow
async def test_redis_counters_are_shared_across_processes(
    redis_url: str, namespace: str
) -> None:
    """Two processes hitting one limit together get exactly N requests through."""
    script = textwrap.dedent(f"""
        import asyncio, redis.asyncio
        from overdrive.http.rate_limiter import RedisRateLimiter, Rate
        async def main():
            client = redis.asyncio.Redis.from_url({redis_url!r})
            limiter = RedisRateLimiter(client, prefix={namespace!r})
            allowed = 0
            for _ in range(30):
                allowed += (await limiter.hit("shared", Rate(25, 3600))).allowed
            await client.aclose()
            print(allowed)
        asyncio.run(main())
    """)
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": "src"})
        for _ in range(2)
    ]
    outputs = [(await process.communicate())[0] for process in processes]
    assert sum(int(output) for output in outputs) == 25
