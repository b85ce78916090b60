"""Readiness against real dependencies: Redis and PostgreSQL up, then a Redis that died."""

from __future__ import annotations

import redis.asyncio
from sqlalchemy.ext.asyncio import create_async_engine

from overdrive.observe.health import HealthCheck, Readiness, database_check, redis_check
from tests.servers import redis_server


async def test_real_redis_and_postgres_are_up(redis_url: str, postgres_url: str) -> None:
    """Both answer: status up, each with its latency."""
    client = redis.asyncio.Redis.from_url(redis_url)
    engine = create_async_engine(postgres_url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        code, body = await Readiness({"redis": redis_check(client),
                                      "database": database_check(engine)}).report()
    finally:
        await client.aclose()
        await engine.dispose()
    assert code == 200
    assert body["status"] == "up"
    assert body["dependencies"]["database"]["status"] == "up"
    assert 0 < body["dependencies"]["redis"]["latency_ms"] < 250


async def test_dead_optional_redis_degrades_dead_required_one_fails() -> None:
    """Redis killed: degraded (200) when optional, down (503) when required."""
    with redis_server() as server:
        client = redis.asyncio.Redis.from_url(server.url, socket_connect_timeout=0.5)
        assert await client.ping()
        server.stop()
        optional = Readiness({"redis": HealthCheck(redis_check(client), required=False)})
        code, body = await optional.report()
        assert (code, body["status"]) == (200, "degraded")
        assert body["dependencies"]["redis"]["status"] == "down"
        assert "Error" in body["dependencies"]["redis"]["error"]
        code, body = await Readiness({"redis": redis_check(client)}, timeout=1.0).report()
        assert (code, body["status"]) == (503, "down")
        await client.aclose()


async def test_a_hanging_dependency_times_out() -> None:
    """A probe that never answers is down after the timeout, not a hung /readyz."""
    import asyncio

    async def hang() -> None:
        await asyncio.Event().wait()

    code, body = await Readiness({"search": hang}, timeout=0.05).report()
    assert code == 503
    assert body["dependencies"]["search"]["error"] == "no answer within 0.05s"
