"""The L2 tier's batches: bare EVALSHAs in one pipeline, scripts reloaded when lost."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import redis

from overdrive import Cache
from tests.servers import RedisServer, redis_server, service_required

pytestmark = [pytest.mark.slow]


@pytest.fixture
def server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if service_required():
            pytest.fail("redis-server is needed for the private-server tests")
        pytest.skip("redis-server not installed")
    with redis_server() as running:
        yield running


def script_commands(server: RedisServer) -> int:
    """SCRIPT commands the server has run (EXISTS, LOAD, FLUSH) since it started."""
    client = redis.Redis(port=server.port)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return sum(
        int(value["calls"]) for name, value in stats.items() if name.startswith("cmdstat_script")
    )


def flush_scripts(server: RedisServer) -> None:
    client = redis.Redis(port=server.port)
    try:
        client.script_flush()
    finally:
        client.close()


async def test_batches_do_not_ask_script_exists_each_time(server: RedisServer) -> None:
    """Once the scripts are loaded, set_many, get_many and invalidate send no SCRIPT command."""
    cache = Cache(server.url, namespace="batches")
    try:
        await cache.set_many({"a": 1, "b": 2}, ttl=60, tags=("t",))
        await cache.get_many(["a", "b"])
        await cache.invalidate("t")
        before = script_commands(server)
        for _ in range(5):
            await cache.set_many({"a": 1, "b": 2}, ttl=60, tags=("t",))
            assert await cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
            await cache.invalidate("t")
        assert script_commands(server) == before
    finally:
        await cache.close()


async def test_batches_reload_scripts_the_server_forgot(server: RedisServer) -> None:
    """After SCRIPT FLUSH the next batch loads its script again and succeeds, with no L2 error."""
    writer = Cache(server.url, namespace="flushed", l1_max_bytes=0)
    try:
        await writer.set_many({"a": 1}, ttl=60, tags=("t",))
        flush_scripts(server)
        await writer.set_many({"a": 1, "b": 2}, ttl=60, tags=("t",))
        flush_scripts(server)
        assert await writer.get_many(["a", "b"]) == {"a": 1, "b": 2}
        flush_scripts(server)
        await writer.invalidate("t")
        assert await writer.get_many(["a", "b"]) == {}
        assert writer.stats()["l2_errors"] == 0
    finally:
        await writer.close()
