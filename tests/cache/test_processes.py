"""What must hold across OS processes sharing one Redis: leases, coherence, strict mode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from overdrive import Cache
from tests.cache.processes import Worker

pytestmark = [pytest.mark.slow, pytest.mark.redis]


@pytest.fixture
def workers(redis_url: str, namespace: str) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.close()
    client = redis.Redis.from_url(redis_url)
    client.delete(f"{namespace}:runs")
    client.close()


def test_four_processes_run_the_loader_once_between_them(
    workers: list[Worker], redis_url: str, namespace: str
) -> None:
    """Four processes missing the same key at once: one loader run, one value for all."""
    workers.extend(Worker(redis_url, namespace) for _ in range(4))
    for worker in workers:
        worker.send(op="load", key="hot", counter=f"{namespace}:runs", delay=0.5, tags=["t"])
    values = [worker.read()["value"] for worker in workers]
    client = redis.Redis.from_url(redis_url)
    runs = int(client.get(f"{namespace}:runs") or 0)
    client.close()
    assert runs == 1
    assert values == [1, 1, 1, 1]
    waits = sum(worker.call(op="stats")["stats"]["lease_waits"] for worker in workers)
    assert waits == 3  # the others waited on the lease and were woken by the fill


async def test_invalidation_reaches_another_process_l1(
    workers: list[Worker], redis_url: str, namespace: str
) -> None:
    """A tag invalidated in one process stops another process's L1 copy at once."""
    other = Worker(redis_url, namespace)
    workers.append(other)
    other.call(op="set", key="k", value="old", tags=["t"])
    assert other.call(op="get", key="k")["value"] == "old"
    hits_before = other.call(op="stats")["stats"]["l1_hits"]
    async with Cache(redis_url, namespace=namespace) as cache:
        await cache.invalidate("t")
        await cache.set("k", "new", tags=["t"])
    deadline = time.monotonic() + 2
    value = None
    while time.monotonic() < deadline:
        value = other.call(op="get", key="k")["value"]
        if value == "new":
            break
    assert value == "new"
    stats = other.call(op="stats")["stats"]
    assert stats["bus_messages_applied"] >= 1
    assert hits_before >= 1  # the old value really was served from its L1


async def test_strict_invalidation_waits_for_live_processes(
    workers: list[Worker], redis_url: str, namespace: str
) -> None:
    """Strict mode: invalidate() returns once every live process applied it."""
    workers.extend(Worker(redis_url, namespace, "strict") for _ in range(2))
    for worker in workers:
        worker.call(op="set", key="k", value="old", tags=["t"])
        assert worker.call(op="get", key="k")["value"] == "old"
    async with Cache(redis_url, namespace=namespace, consistency="strict", lease=1.0) as cache:
        await cache.invalidate("t")
        await cache.set("k", "new", tags=["t"])
    for worker in workers:
        assert worker.call(op="get", key="k")["value"] == "new"


async def test_strict_mode_paused_process_never_serves_the_old_value(
    workers: list[Worker], redis_url: str, namespace: str
) -> None:
    """A process paused by SIGSTOP misses the invalidation; resumed, it must not serve old L1."""
    paused = Worker(redis_url, namespace, "strict", lease=1.0)
    workers.append(paused)
    paused.call(op="set", key="k", value="old", tags=["t"])
    assert paused.call(op="get", key="k")["value"] == "old"
    paused.pause()
    try:
        async with Cache(redis_url, namespace=namespace, consistency="strict", lease=1.0) as cache:
            started = time.monotonic()
            await cache.invalidate("t")  # waits until the paused process's lease ends
            assert time.monotonic() - started < 5
            await cache.set("k", "new", tags=["t"])
    finally:
        paused.resume()
    assert paused.call(op="get", key="k")["value"] == "new"


async def test_fast_mode_invalidation_latency_is_small(
    workers: list[Worker], redis_url: str, namespace: str
) -> None:
    """Fast mode: the bus delivers invalidations to other processes within milliseconds."""
    other = Worker(redis_url, namespace)
    workers.append(other)
    async with Cache(redis_url, namespace=namespace) as cache:
        for index in range(20):
            await cache.invalidate(f"t{index}")
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    stats = other.call(op="stats")["stats"]
    assert stats["bus_messages_applied"] >= 20
