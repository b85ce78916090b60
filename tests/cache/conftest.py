from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from overdrive import Cache
from overdrive.testing import FakeClock
from tests.servers import RedisCluster, service_required

BACKENDS = ["l1", "redis", "cluster"]
CacheFactory = Callable[..., Cache]


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if service_required():
            pytest.fail("redis-server and redis-cli are needed for the cluster tests")
        pytest.skip("redis-server/redis-cli not installed")
    cluster = RedisCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "l1":
        return None
    if backend == "redis":
        return str(request.getfixturevalue("redis_url"))
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    return cluster.url


@pytest.fixture
async def make_cache(
    backend_url: str | None, namespace: str, clock: FakeClock
) -> AsyncIterator[CacheFactory]:
    """Caches on the parametrised backend sharing one namespace: like processes of one app."""
    made: list[Cache] = []

    def factory(**options: Any) -> Cache:
        options.setdefault("namespace", namespace)
        options.setdefault("clock", clock)
        # Semantics, not timeouts, are under test here: a loaded CI machine must not turn
        # a slow Redis reply into a degraded path (the fault tests set their own timeouts).
        options.setdefault("l2_timeout", 2.0)
        cache = Cache(backend_url, **options)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        await cache.close()


@pytest.fixture
async def cache(make_cache: CacheFactory) -> Cache:
    return make_cache()
