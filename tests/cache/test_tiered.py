"""The cache's semantics, once, over every backend: L1 only, Redis, and a Redis Cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overdrive import Cache, CacheKeyError, ConfigurationError, SerializationError
from overdrive.testing import FakeClock, settle
from tests.cache.conftest import CacheFactory


class Counter:
    """An async loader that counts its runs and returns the run number."""

    def __init__(self, delay: float = 0.0, value: Any = None) -> None:
        self.runs = 0
        self.delay = delay
        self.value = value

    async def __call__(self) -> Any:
        self.runs += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.value if self.value is not None else {"run": self.runs}


async def test_missing_key_gives_the_default(cache: Cache) -> None:
    """A key never set is a miss: `get` returns the default."""
    assert await cache.get("absent") is None
    assert await cache.get("absent", default="d") == "d"


async def test_set_then_get_round_trips_values(make_cache: CacheFactory) -> None:
    """msgpack-able values come back equal, bytes stay bytes, tuples become lists."""
    cache = make_cache()
    value = {"name": "ada", "ids": [1, 2, 3], "raw": b"\x00\xff", "nested": {"f": 1.5}}
    await cache.set("user", value, ttl=60)
    assert await cache.get("user") == value
    await cache.set("tuple", (1, 2), ttl=60)
    if cache._l2 is not None:  # through the serializer (L1 keeps the object itself)
        reader = make_cache(l1_max_bytes=0)
        assert await reader.get("user") == value
        assert await reader.get("tuple") == [1, 2]


async def test_none_is_a_cacheable_value(cache: Cache) -> None:
    """A cached None is a hit, not a miss: the loader does not run again."""
    loader = Counter()

    async def none_loader() -> None:
        await loader()
        return None

    assert await cache.get_or_set("nothing", none_loader) is None
    assert await cache.get_or_set("nothing", none_loader) is None
    assert loader.runs == 1
    assert await cache.get("nothing", default="miss") is None


async def test_large_values_are_compressed_and_restored(make_cache: CacheFactory) -> None:
    """Values over the threshold travel zstd-compressed and come back intact."""
    writer = make_cache(compress_min_bytes=100)
    reader = make_cache(l1_max_bytes=0, compress_min_bytes=100)
    text = "version body " * 5000
    await writer.set("big", text, ttl=60)
    entry = await writer.get_entry("big")
    assert entry is not None
    assert entry.codec == 1
    assert len(entry.payload) < len(text) // 10
    if writer._l2 is not None:
        assert await reader.get("big") == text


async def test_entry_expires_after_ttl(cache: Cache, clock: FakeClock) -> None:
    """Past its ttl (and with no swr) an entry is gone."""
    await cache.set("k", 1, ttl=10)
    clock.advance(9)
    assert await cache.get("k") == 1
    clock.advance(2)
    assert await cache.get("k") is None


async def test_stale_within_swr_is_served_and_refreshed_once(
    cache: Cache, clock: FakeClock
) -> None:
    """Stale within swr: callers get the old value at once and one background refresh runs."""
    loader = Counter()
    assert await cache.get_or_set("k", loader, ttl=10, swr=100) == {"run": 1}
    clock.advance(20)
    results = await asyncio.gather(
        *(cache.get_or_set("k", loader, ttl=10, swr=100) for _ in range(50))
    )
    assert all(result == {"run": 1} for result in results)
    await settle(cache)
    assert loader.runs == 2
    assert await cache.get_or_set("k", loader, ttl=10, swr=100) == {"run": 2}
    assert cache.stats()["stale_served"] >= 1


async def test_past_swr_the_value_is_recomputed(cache: Cache, clock: FakeClock) -> None:
    """Beyond stale-until the caller waits for a fresh computation."""
    loader = Counter()
    await cache.get_or_set("k", loader, ttl=10, swr=5)
    clock.advance(16)
    assert await cache.get_or_set("k", loader, ttl=10, swr=5) == {"run": 2}


async def test_invalidate_kills_entries_under_the_tag(cache: Cache) -> None:
    """After invalidate(tag), no entry under it is served; other tags are untouched."""
    await cache.set("a", 1, ttl=60, tags=("t1",))
    await cache.set("b", 2, ttl=60, tags=("t1", "t2"))
    await cache.set("c", 3, ttl=60, tags=("t2",))
    await cache.invalidate("t1")
    assert await cache.get("a") is None
    assert await cache.get("b") is None
    assert await cache.get("c") == 3


async def test_invalidation_is_not_expiry_swr_does_not_resurrect(
    cache: Cache, clock: FakeClock
) -> None:
    """An invalidated entry is never served again, even inside its swr window."""
    loader = Counter()
    await cache.get_or_set("k", loader, ttl=10, swr=1000, tags=("t",))
    await cache.invalidate("t")
    assert await cache.get("k") is None
    assert await cache.get_or_set("k", loader, ttl=10, swr=1000, tags=("t",)) == {"run": 2}


async def test_soft_invalidation_serves_stale_while_refreshing(cache: Cache) -> None:
    """invalidate(soft=True) marks entries stale: served within swr while one refresh runs."""
    loader = Counter()
    await cache.get_or_set("k", loader, ttl=60, swr=600, tags=("t",))
    await cache.invalidate("t", soft=True)
    assert await cache.get_or_set("k", loader, ttl=60, swr=600, tags=("t",)) == {"run": 1}
    await settle(cache)
    assert loader.runs == 2
    assert await cache.get_or_set("k", loader, ttl=60, swr=600, tags=("t",)) == {"run": 2}


async def test_soft_invalidation_without_swr_is_a_miss(cache: Cache) -> None:
    """With no swr window there is nothing to serve stale: a soft purge then acts as a miss."""
    await cache.set("k", 1, ttl=60, tags=("t",))
    await cache.invalidate("t", soft=True)
    assert await cache.get("k") is None


async def test_hard_invalidation_after_soft_kills(cache: Cache) -> None:
    """A hard invalidation after a soft one leaves nothing to serve."""
    await cache.set("k", 1, ttl=60, swr=600, tags=("t",))
    await cache.invalidate("t", soft=True)
    await cache.invalidate("t")
    assert await cache.get("k") is None


async def test_stale_set_race_is_refused(cache: Cache) -> None:
    """A loader that read the source before an invalidation cannot store its value after it."""
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_loader() -> str:
        started.set()
        await release.wait()
        return "read before the write"

    task = asyncio.ensure_future(cache.get_or_set("k", slow_loader, ttl=60, tags=("row:1",)))
    await started.wait()
    await cache.invalidate("row:1")
    release.set()
    assert await task == "read before the write"  # the caller still gets its answer
    assert await cache.get("k") is None  # but it was not stored
    assert cache.stats()["refused_stale_sets"] == 1


async def test_a_thousand_concurrent_misses_run_the_loader_once(cache: Cache) -> None:
    """1,000 concurrent callers on one missing key: one loader run, one value for all."""
    loader = Counter(delay=0.05)
    results = await asyncio.gather(*(cache.get_or_set("hot", loader, ttl=60) for _ in range(1000)))
    assert loader.runs == 1
    assert all(result == {"run": 1} for result in results)


async def test_loader_errors_reach_every_waiter_and_nothing_is_cached(cache: Cache) -> None:
    """A failing loader fails all concurrent callers once; the next call tries again."""
    runs = 0

    async def failing() -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.02)
        raise RuntimeError("source down")

    results = await asyncio.gather(
        *(cache.get_or_set("k", failing) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(result, RuntimeError) for result in results)
    assert runs == 1
    assert await cache.get_or_set("k", Counter()) == {"run": 1}


async def test_get_many_and_set_many(cache: Cache) -> None:
    """set_many stores a batch; get_many returns only the keys found."""
    await cache.set_many({"a": 1, "b": None, "c": [3]}, ttl=60, tags=("batch",))
    assert await cache.get_many(["a", "b", "c", "d"]) == {"a": 1, "b": None, "c": [3]}
    await cache.invalidate("batch")
    assert await cache.get_many(["a", "b", "c"]) == {}


async def test_delete_removes_the_key(cache: Cache) -> None:
    """delete() removes one key from every tier."""
    await cache.set("k", 1)
    await cache.delete("k")
    assert await cache.get("k") is None


async def test_clear_invalidates_the_namespace(cache: Cache) -> None:
    """clear() is one version bump that kills every entry of the namespace."""
    await cache.set_many({f"k{i}": i for i in range(20)}, ttl=60)
    await cache.clear()
    assert await cache.get_many([f"k{i}" for i in range(20)]) == {}


async def test_cached_decorator_uses_argument_templates(cache: Cache) -> None:
    """@cached keys calls by their arguments; tag templates name them; invalidation works."""
    runs: list[int] = []

    @cache.cached(ttl=60, tags=("user:{user_id}",))
    async def load_user(user_id: int, verbose: bool = False) -> dict[str, Any]:
        runs.append(user_id)
        return {"id": user_id, "run": len(runs)}

    first = await load_user(1)
    assert await load_user(1) == first
    assert await load_user(user_id=1) == first  # same call spelled with a keyword
    assert await load_user(2) != first
    assert runs == [1, 2]
    await cache.invalidate("user:1")
    assert (await load_user(1))["run"] == 3
    assert await load_user(2) == {"id": 2, "run": 2}


async def test_cached_decorator_with_a_key_template(cache: Cache) -> None:
    """key= names the cache key explicitly, so other code can read or delete it."""

    @cache.cached(ttl=60, key="profile:{user_id}")
    async def profile(user_id: int) -> str:
        return f"profile {user_id}"

    assert await profile(7) == "profile 7"
    assert await cache.get("profile:7") == "profile 7"


def test_cached_decorator_rejects_unknown_template_fields(cache: Cache) -> None:
    """A template naming a missing argument fails at decoration time, not at the first call."""
    with pytest.raises(ConfigurationError, match="not arguments"):

        @cache.cached(tags=("user:{uid}",))
        async def load(user_id: int) -> int:
            return user_id


def test_cached_decorator_rejects_sync_functions(cache: Cache) -> None:
    """Only coroutine functions can be cached (the API is async-only)."""
    with pytest.raises(ConfigurationError, match="async"):
        cache.cached()(lambda: 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    ["x" * 5000, b"bytes-key", "", "nul\x00inside", 42, None],
    ids=["huge", "bytes", "empty", "nul", "int", "none"],
)
async def test_hostile_keys_get_clear_errors(cache: Cache, key: Any) -> None:
    """Keys that are not non-empty str within the limit are refused with CacheKeyError."""
    with pytest.raises(CacheKeyError):
        await cache.get(key)
    with pytest.raises(CacheKeyError):
        await cache.set(key, 1)


async def test_keys_with_separators_and_braces_do_not_collide(cache: Cache) -> None:
    """Separators, braces and odd characters are ordinary key text: no collisions."""
    keys = ["a:b", "a", "a:b:", "{a}:b", "{ns:0}:e:a", "ü/é?&=#", "a b\tc\n", "}{"]
    for index, key in enumerate(keys):
        await cache.set(key, index, ttl=60)
    for index, key in enumerate(keys):
        assert await cache.get(key) == index


async def test_bad_tags_are_refused(cache: Cache) -> None:
    """A bare string as tags, or a non-str tag, is refused before anything is stored."""
    with pytest.raises(CacheKeyError):
        await cache.set("k", 1, tags="user:1")  # type: ignore[arg-type]
    with pytest.raises(CacheKeyError):
        await cache.invalidate(1)  # type: ignore[arg-type]
    assert await cache.get("k") is None


async def test_unserialisable_values_get_a_clear_error(cache: Cache) -> None:
    """A value msgpack cannot encode raises SerializationError naming the type; nothing stored."""
    with pytest.raises(SerializationError, match="object"):
        await cache.set("k", object())

    async def loader() -> object:
        return {1, 2}

    with pytest.raises(SerializationError, match="set"):
        await cache.get_or_set("k2", loader)
    assert await cache.get("k") is None
    assert await cache.get("k2") is None


async def test_bad_lifetimes_are_refused(cache: Cache) -> None:
    """ttl must be positive and swr non-negative."""
    with pytest.raises(ConfigurationError):
        await cache.set("k", 1, ttl=0)
    with pytest.raises(ConfigurationError):
        await cache.set("k", 1, ttl=10, swr=-1)


async def test_l1_returns_the_stored_object_by_default(make_cache: CacheFactory) -> None:
    """By default L1 hands back the stored object itself (documented, as lru_cache does)."""
    cache = make_cache()
    await cache.set("k", {"n": 1})
    first = await cache.get("k")
    first["n"] = 2
    assert (await cache.get("k")) is first


async def test_l1_copy_returns_private_copies(make_cache: CacheFactory) -> None:
    """l1_copy=True: mutating what you read never changes what the next reader gets."""
    cache = make_cache(l1_copy=True)
    await cache.set("k", {"n": 1})
    first = await cache.get("k")
    first["n"] = 2
    assert await cache.get("k") == {"n": 1}
    loaded = await cache.get_or_set("j", Counter())
    loaded["run"] = 99
    assert await cache.get("j") == {"run": 1}


async def test_stats_count_hits_misses_and_loader_runs(cache: Cache) -> None:
    """stats() reports per-tier hits and misses, loader runs, bytes and evictions."""
    loader = Counter()
    await cache.get_or_set("k", loader)
    await cache.get_or_set("k", loader)
    await cache.get("nope")
    stats = cache.stats()
    assert stats["loader_runs"] == 1
    assert stats["l1_hits"] >= 1
    assert stats["misses"] >= 2
    assert stats["l1_bytes"] > 0
    assert stats["l1_max_bytes"] > 0
    # Three lookups (each asks L1 first), one served: the dashboard's and alerts' ratio.
    assert stats["hit_ratio"] == pytest.approx(1 / 3)
    for name in ("evictions", "stale_served", "l2_errors", "invalidations"):
        assert name in stats


def test_bad_configuration_is_refused() -> None:
    """Nonsense settings fail at construction with ConfigurationError."""
    with pytest.raises(ConfigurationError):
        Cache(consistency="eventual")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        Cache(namespace="a{b}")
    with pytest.raises(ConfigurationError):
        Cache(l1_max_bytes="lots")


async def test_early_refresh_renews_hot_keys_before_expiry(
    make_cache: CacheFactory, clock: FakeClock
) -> None:
    """With XFetch on, a key read just before expiry is refreshed in the background."""
    cache = make_cache(early_refresh=1e9)  # a huge beta: every read near expiry refreshes
    loader = Counter()
    await cache.get_or_set("k", loader, ttl=10)
    clock.advance(9.9)
    assert await cache.get_or_set("k", loader, ttl=10) == {"run": 1}
    await settle(cache)
    assert loader.runs == 2
    assert cache.stats()["early_refreshes"] >= 1


async def test_get_entry_exposes_timestamps_including_stale(
    make_cache: CacheFactory, clock: FakeClock
) -> None:
    """get_entry returns the entry with its timestamps, stale ones included, copies if asked."""
    cache = make_cache(l1_copy=True)
    await cache.set("k", {"n": 1}, ttl=10, swr=20)
    clock.advance(15)
    entry = await cache.get_entry("k")
    assert entry is not None
    assert entry.value == {"n": 1}
    assert not entry.is_fresh(clock())
    assert entry.stale_until - entry.fresh_until == pytest.approx(20)
    entry.value["n"] = 2
    again = await cache.get_entry("k")
    assert again is not None
    assert again.value == {"n": 1}
    clock.advance(20)
    assert await cache.get_entry("k") is None


async def test_lookup_names_the_tier_and_peek_answers_from_l1_only(
    make_cache: CacheFactory, clock: FakeClock
) -> None:
    """lookup says which tier answered; peek_entry is L1 only, without a coroutine, and
    leaves every case it does not decide (absent, stale, invalidated) to lookup."""
    cache = make_cache(l1_copy=True)
    assert await cache.lookup("k") == (None, "")
    assert cache.peek_entry("k") is None
    await cache.set("k", {"n": 1}, ttl=10, swr=20, tags=("t",))
    entry, tier = await cache.lookup("k")
    assert tier == "l1"
    assert entry is not None
    assert entry.value == {"n": 1}
    peeked = cache.peek_entry("k")
    assert peeked is not None
    assert peeked.value == {"n": 1}
    peeked.value["n"] = 2  # a private copy, as get_entry gives with l1_copy
    assert (await cache.get_entry("k")).value == {"n": 1}  # type: ignore[union-attr]
    clock.advance(15)
    peeked = cache.peek_entry("k")  # stale within swr: still the L1 entry
    assert peeked is not None
    assert not peeked.is_fresh(clock())
    await cache.invalidate("t")
    assert cache.peek_entry("k") is None
    assert await cache.lookup("k") == (None, "")
    assert cache.peek_entry("x" * 5000) is None  # too long for a key: lookup raises it


async def test_lookup_reports_l2_when_l1_is_cold(redis_url: str, namespace: str) -> None:
    """A second process's first read comes from L2, the next from its own L1."""
    writer = Cache(redis_url, namespace=namespace)
    reader = Cache(redis_url, namespace=namespace)
    try:
        await writer.set("k", "v", ttl=30)
        await reader.start()
        assert reader.peek_entry("k") is None
        entry, tier = await reader.lookup("k")
        assert tier == "l2"
        assert entry is not None
        assert entry.value == "v"
        assert (await reader.lookup("k"))[1] == "l1"
        assert reader.peek_entry("k") is not None
    finally:
        await writer.close()
        await reader.close()
