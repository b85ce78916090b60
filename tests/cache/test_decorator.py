"""@cached's synchronous hit path decides only fresh, valid hits; the full path does the rest."""

from __future__ import annotations

from typing import Any

import pytest

from overdrive import Cache
from overdrive.testing import FakeClock, settle
from tests.cache.conftest import CacheFactory


async def test_a_hit_counts_one_l1_hit_and_runs_nothing(cache: Cache) -> None:
    """Every repeated call is one L1 hit: the function ran once, nothing was missed."""
    runs: list[int] = []

    @cache.cached(ttl=60)
    async def square(number: int) -> int:
        runs.append(number)
        return number * number

    assert await square(3) == 9
    before = cache.stats()
    for _ in range(10):
        assert await square(3) == 9
    after = cache.stats()
    assert runs == [3]
    assert after["l1_hits"] - before["l1_hits"] == 10
    assert after["l1_misses"] == before["l1_misses"]
    assert after["misses"] == before["misses"]


async def test_a_stale_entry_is_served_and_refreshed_once(
    make_cache: CacheFactory, clock: FakeClock
) -> None:
    """Past its ttl but within swr, the old value is served and recomputed in the background."""
    cache = make_cache()
    runs: list[int] = []

    @cache.cached(ttl=10, swr=60)
    async def version(name: str) -> int:
        runs.append(1)
        return len(runs)

    assert await version("a") == 1
    clock.advance(11)
    assert await version("a") == 1  # stale, served
    await settle(cache)
    assert await version("a") == 2
    assert cache.stats()["stale_served"] >= 1
    assert len(runs) == 2


async def test_an_expired_entry_is_recomputed(make_cache: CacheFactory, clock: FakeClock) -> None:
    """Past ttl + swr the hit path does not serve it: the function runs again."""
    cache = make_cache()
    runs: list[int] = []

    @cache.cached(ttl=10)
    async def version(name: str) -> int:
        runs.append(1)
        return len(runs)

    assert await version("a") == 1
    clock.advance(11)
    assert await version("a") == 2


async def test_l1_copy_gives_each_hit_a_private_copy(make_cache: CacheFactory) -> None:
    """With l1_copy=True a hit hands out a fresh copy: mutating it does not touch the cache."""
    cache = make_cache(l1_copy=True)

    @cache.cached(ttl=60)
    async def profile(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "roles": ["reader"]}

    first = await profile(1)
    first["roles"].append("admin")
    assert await profile(1) == {"id": 1, "roles": ["reader"]}


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_strict_mode_not_hearing_the_bus_skips_l1(make_cache: CacheFactory) -> None:
    """A strict cache that stopped hearing the bus does not answer a hit from L1."""
    cache = make_cache(consistency="strict")

    @cache.cached(ttl=60)
    async def square(number: int) -> int:
        return number * number

    assert await square(4) == 16
    bus = cache._bus
    assert bus is not None
    bus.hearing_until = 0.0
    before = cache.stats()
    assert await square(4) == 16  # from L2, not L1
    after = cache.stats()
    assert after["l1_hits"] == before["l1_hits"]
    assert after["l1_misses"] == before["l1_misses"] + 1
