from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio

from tests.servers import service_required

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _require(name: str, reachable: bool) -> None:
    if reachable:
        return
    if service_required():
        pytest.fail(f"{name} is not reachable and CI=true: start it (scripts/services)")
    pytest.skip(f"{name} is not reachable")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        reachable = bool(client.ping())
    except redis.RedisError:
        reachable = False
    finally:
        client.close()
    _require("Redis on 127.0.0.1:6379", reachable)
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            reachable = True
    except OSError:
        reachable = False
    _require("PostgreSQL on 127.0.0.1:5432", reachable)
    return POSTGRES_URL


@pytest.fixture
def namespace() -> str:
    """A namespace of its own per test, so tests share the Redis server but no keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()
