"""Redis unreachable, paused, killed and restarted: every call still answers, nothing is lost.

Each test runs its own redis-server on a free port; the shared one is never touched.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest

from overdrive import Cache, CacheUnavailableError
from tests.servers import RedisServer, free_port, redis_server

pytestmark = [pytest.mark.slow]


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


async def loader_value() -> str:
    return "from the source"


async def test_dead_redis_from_the_start_degrades_to_l1_and_loader() -> None:
    """No Redis at all: gets miss, get_or_set runs the loader, set lands in L1, no exception."""
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", l2_timeout=0.1)
    try:
        started = time.monotonic()
        assert await cache.get_or_set("k", loader_value) == "from the source"
        assert await cache.get("k") == "from the source"  # kept in L1
        await cache.set("j", 1)
        assert await cache.get("j") == 1
        assert await cache.get("absent") is None
        await cache.invalidate("t")  # fast mode: applied locally and queued
        assert time.monotonic() - started < 5
        stats = cache.stats()
        assert stats["l2_errors"] >= 1
        assert stats["pending_invalidations"] == 1
    finally:
        await cache.close()


async def test_breaker_opens_and_stops_hammering_a_dead_redis() -> None:
    """After repeated failures the breaker opens: later calls skip Redis at once."""
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", l2_timeout=0.05, l1_max_bytes=0)
    try:
        for index in range(20):
            await cache.get(f"k{index}")
        stats = cache.stats()
        assert stats["circuit"] == "open"
        assert stats["l2_skipped"] > 0
        assert stats["l2_errors"] <= 10
    finally:
        await cache.close()


async def test_paused_redis_answers_within_the_timeout(server: RedisServer) -> None:
    """Redis frozen (SIGSTOP): calls answer from the loader within about l2_timeout."""
    cache = Cache(server.url, l2_timeout=0.1, namespace="paused")
    try:
        await cache.set("k", "cached")
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert await cache.get("k") == "cached"  # L1
            assert await cache.get_or_set("other", loader_value) == "from the source"
            assert time.monotonic() - started < 2
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert cache.stats()["l2_errors"] >= 1
    finally:
        await cache.close()


async def test_redis_killed_and_restarted_mid_test(server: RedisServer) -> None:
    """Killed: the cache keeps answering. Restarted: it recovers and replays invalidations."""
    cache = Cache(server.url, l2_timeout=0.1, namespace="restart", heartbeat_interval=0.05)
    try:
        await cache.set("k", "v1", tags=("t",))
        server.stop()
        assert await cache.get("k") == "v1"  # still served from L1
        assert await cache.get_or_set("j", loader_value) == "from the source"
        await cache.invalidate("t")  # Redis is down: applied here, queued for Redis
        assert await cache.get("k") is None
        assert cache.stats()["pending_invalidations"] == 1
        server.start()  # same port, empty data set
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            await cache.get("probe")
            stats = cache.stats()
            if stats["circuit"] == "closed" and stats["pending_invalidations"] == 0:
                break
            await asyncio.sleep(0.1)
        stats = cache.stats()
        assert stats["circuit"] == "closed"
        assert stats["pending_invalidations"] == 0
        await cache.set("k", "v2", tags=("t",))
        reader = Cache(server.url, namespace="restart", l1_max_bytes=0)
        try:
            assert await reader.get("k") == "v2"
        finally:
            await reader.close()
    finally:
        await cache.close()


async def test_strict_invalidation_without_redis_says_so() -> None:
    """Strict mode cannot promise coherence without Redis: it raises, after applying locally."""
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", l2_timeout=0.05, consistency="strict")
    try:
        await cache.set("k", 1, tags=("t",))
        with pytest.raises(CacheUnavailableError):
            await cache.invalidate("t")
        assert await cache.get("k") is None
        assert cache.stats()["pending_invalidations"] == 1
    finally:
        await cache.close()


async def test_a_burst_of_callers_never_exhausts_the_pool(redis_url: str, namespace: str) -> None:
    """2,000 concurrent reads of distinct keys with 8 connections: all answered, no errors."""
    cache = Cache(redis_url, namespace=namespace, max_connections=8, l2_timeout=5)
    try:
        await cache.set_many({f"k{i}": i for i in range(2000)})
        reader = Cache(
            redis_url, namespace=namespace, max_connections=8, l1_max_bytes=0, l2_timeout=5
        )
        try:
            values = await asyncio.gather(*(reader.get(f"k{i}") for i in range(2000)))
            assert values == list(range(2000))
            assert reader.stats()["l2_errors"] == 0
        finally:
            await reader.close()
    finally:
        await cache.close()
