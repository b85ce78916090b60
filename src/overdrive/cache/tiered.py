"""The tiered cache: L1 in this process, L2 in Redis, one set of semantics over both.

Reads go L1 → L2 → loader. Every entry carries fresh-until, stale-until and the versions
of its tags taken *before* its value was read from the source; an entry whose snapshot
is older than the tags' current versions is never served, and a loader's write whose
snapshot is already outdated is refused (the stale-set race). Redis failing degrades
every call to L1 and the loader, within `l2_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from overdrive.cache import keys as keycheck
from overdrive.cache.batch import ReadBatcher
from overdrive.cache.breaker import CircuitBreaker
from overdrive.cache.bus import InvalidationBus
from overdrive.cache.clock import Clock, system_clock
from overdrive.cache.entry import MISSING, CacheEntry, Snapshot, decode_wire, encode_header
from overdrive.cache.memory import MemoryStore
from overdrive.cache.redis_tier import EPOCH_TAG, L2UnavailableError, ReadResult, RedisTier
from overdrive.cache.serializer import Codec, MsgpackSerializer, Serializer
from overdrive.cache.singleflight import SingleFlight
from overdrive.cache.stats import CacheCounters
from overdrive.cache.tags import DEAD, SOFT_STALE, VALID, TagVersions
from overdrive.cache.units import parse_bytes
from overdrive.errors import CacheUnavailableError, ConfigurationError

T = TypeVar("T")
Loader = Callable[[], Awaitable[Any]]
TagSource = tuple[str, ...] | Callable[[], tuple[str, ...]]

logger = logging.getLogger("overdrive.cache")

MAX_PENDING_INVALIDATIONS = 10_000


class Cache:
    """A tiered cache with tags, stale-while-revalidate and stampede protection.

        cache = Cache("redis://127.0.0.1:6379/0", l1_max_bytes="64MB", namespace="app")
        user = await cache.get_or_set(f"user:{uid}", lambda: fetch_user(uid),
                                      ttl=60, swr=300, tags=(f"user:{uid}",))
        await cache.invalidate(f"user:{uid}")

    With no URL it is L1 only (the embedded default). L1 hands back the stored object
    itself, like `functools.lru_cache`: mutate what you read and you mutate the cache.
    `l1_copy=True` gives every reader a private copy instead.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        namespace: str = "overdrive",
        l1_max_bytes: int | str = "64MB",
        l1_copy: bool = False,
        consistency: Literal["fast", "strict"] = "fast",
        serializer: Serializer | None = None,
        compress_min_bytes: int = 1024,
        l2_timeout: float = 0.25,
        lock_ttl: float = 10.0,
        early_refresh: float = 0.0,
        max_key_length: int = keycheck.DEFAULT_MAX_KEY_LENGTH,
        max_connections: int = 64,
        cluster: bool | None = None,
        heartbeat_interval: float = 0.25,
        lease: float = 2.0,
        clock: Clock = system_clock,
    ) -> None:
        if consistency not in ("fast", "strict"):
            raise ConfigurationError(f"consistency must be 'fast' or 'strict', not {consistency!r}")
        if not namespace or any(c in namespace for c in "{}: \t\n\x00"):
            raise ConfigurationError(
                "namespace must be a non-empty word without braces, colons or spaces: "
                f"{namespace!r}"
            )
        if l2_timeout <= 0 or lock_ttl <= 0 or early_refresh < 0:
            raise ConfigurationError("l2_timeout and lock_ttl must be > 0, early_refresh >= 0")
        if consistency == "strict" and url is None:
            # One process, no other L1 to keep coherent: strict is what L1-only already is.
            consistency = "fast"
        max_bytes = parse_bytes(l1_max_bytes)
        self.namespace = namespace
        self.consistency = consistency
        self.counters = CacheCounters()
        self._strict = consistency == "strict"
        self._copy = l1_copy
        self._clock = clock
        self._max_key = max_key_length
        self._lock_ttl = lock_ttl
        self._lock_ttl_ms = int(lock_ttl * 1000)
        self._early = early_refresh
        self._codec = Codec(serializer or MsgpackSerializer(), compress_min_bytes)
        self._l1: MemoryStore[CacheEntry] | None = MemoryStore(max_bytes) if max_bytes else None
        self._versions = TagVersions()
        self._flight: SingleFlight[Any] = SingleFlight()
        self._reads: SingleFlight[tuple[CacheEntry | None, int]] = SingleFlight()
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: dict[tuple[str, bool], None] = {}
        self._l2: RedisTier | None = None
        self._bus: InvalidationBus | None = None
        self._batcher: ReadBatcher | None = None
        self._started = True
        self._local_prefix = f"{{{namespace}:0}}:t:"
        if url is not None:
            self._l2 = RedisTier(
                url,
                namespace,
                self.counters,
                timeout=l2_timeout,
                max_connections=max_connections,
                cluster=cluster,
                breaker=CircuitBreaker(),
            )
            self._batcher = ReadBatcher(self._l2.fetch)
            self._bus = InvalidationBus(
                self._l2,
                self._versions,
                on_keys_deleted=self._forget_keys,
                heartbeat_interval=heartbeat_interval,
                lease=lease,
                maintenance=self._replay_pending,
            )
            self._started = False

    # -- public API ----------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """The cached value (fresh, or stale within its swr window), else `default`."""
        keycheck.check_key(key, self._max_key)
        if not self._started:
            await self.start()
        now = self._clock()
        entry, state = self._l1_lookup(key, now)
        if entry is None and self._l2 is not None:
            entry, state = await self._reads.run(key, lambda: self._l2_lookup(key))
        if entry is None:
            self.counters.misses += 1
            return default
        if state != VALID or now >= entry.fresh_until:
            self.counters.stale_served += 1
        return self._value(entry)

    async def get_entry(self, key: str) -> CacheEntry | None:
        """The entry with its timestamps, whatever its freshness, unless dead or invalidated."""
        entry, _ = await self.lookup(key)
        return entry

    def peek_entry(self, key: str) -> CacheEntry | None:
        """The entry L1 holds for `key` under `get_entry`'s rules, without a coroutine.

        None means "ask `lookup`": L2 may still have it, or the cache is not started, or
        (strict mode) L1 is not trusted right now. A miss here is not counted, so the
        `lookup` that follows counts it once. For hot paths that answer from L1 in the
        common case (the response cache's hits).
        """
        l1 = self._l1
        if l1 is None or not self._started or len(key) > self._max_key:
            return None
        if self._strict and not self._bus.hearing():  # type: ignore[union-attr]
            return None
        entry = l1.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.stale_until or self._versions.status(entry.snapshot) != VALID:
            return None  # expired or invalidated (soft or hard): `lookup` decides
        self.counters.l1_hits += 1
        return self._private(entry) if self._copy else entry

    async def lookup(self, key: str) -> tuple[CacheEntry | None, str]:
        """`get_entry` that also names the tier that answered: "l1", "l2", or "" for none.

        For callers that report where a value came from (Server-Timing's cache metric);
        the L1 case costs what `get_entry` costs.
        """
        keycheck.check_key(key, self._max_key)
        if not self._started:
            await self.start()
        entry, _ = self._l1_lookup(key, self._clock())
        tier = "l1"
        if entry is None:
            if self._l2 is None:
                return None, ""
            entry, _ = await self._reads.run(key, lambda: self._l2_lookup(key))
            if entry is None:
                return None, ""
            tier = "l2"
        return (self._private(entry) if self._copy else entry), tier

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values found, L1 first and the rest in one pipelined L2 round trip."""
        wanted = [keycheck.check_key(key, self._max_key) for key in keys]
        if not self._started:
            await self.start()
        now = self._clock()
        found: dict[str, Any] = {}
        missing: list[str] = []
        for key in wanted:
            entry, _ = self._l1_lookup(key, now)
            if entry is not None:
                found[key] = self._value(entry)
            else:
                missing.append(key)
        self.counters.misses += len(missing)
        l2 = self._l2
        if missing and l2 is not None:
            pairs = [(key, l2.group_of(key)) for key in missing]
            try:
                if self._judged_locally():
                    raws = await l2.fetch([l2.entry_key(key, group) for key, group in pairs])
                    judged = [
                        await self._judge(key, group, raw, now)
                        for (key, group), raw in zip(pairs, raws, strict=True)
                    ]
                else:
                    results = await l2.read_many(pairs, now=now)
                    judged = [
                        self._accept_l2(key, group, result, now)
                        for (key, group), result in zip(pairs, results, strict=True)
                    ]
            except L2UnavailableError:
                return found
            for key, (entry, _) in zip(missing, judged, strict=True):
                if entry is not None:
                    found[key] = self._value(entry)
                    self.counters.misses -= 1
        return found

    async def set(
        self, key: str, value: Any, ttl: float = 60, swr: float = 0, tags: Sequence[str] = ()
    ) -> None:
        """Store `value` now, stamped with its tags' current versions."""
        keycheck.check_key(key, self._max_key)
        await self.set_many({key: value}, ttl=ttl, swr=swr, tags=tags)

    async def set_many(
        self,
        mapping: Mapping[str, Any],
        ttl: float = 60,
        swr: float = 0,
        tags: Sequence[str] = (),
    ) -> None:
        """Store several values with the same lifetime and tags, in one L2 round trip."""
        _check_lifetime(ttl, swr)
        names = (EPOCH_TAG, *keycheck.check_tags(tags, self._max_key))
        if not self._started:
            await self.start()
        now = self._clock()
        fresh, stale = now + ttl, now + ttl + swr
        encoded = []
        for key, value in mapping.items():
            keycheck.check_key(key, self._max_key)
            payload, codec = self._codec.encode(value)
            encoded.append((key, value, payload, codec))
        if not encoded:
            return
        l2 = self._l2
        stamped: list[list[int]] | None = None
        if l2 is not None:
            items = [
                (key, l2.group_of(key), (now, fresh, stale, codec), payload)
                for key, _, payload, codec in encoded
            ]
            with contextlib.suppress(L2UnavailableError):
                stamped = await l2.write_stamped_many(items, names, _ms(stale - now))
        for index, (key, value, payload, codec) in enumerate(encoded):
            group = l2.group_of(key) if l2 is not None else 0
            if stamped is not None:
                snapshot = self._pairs(group, names, stamped[index])
                self._versions.observe_snapshot(snapshot)
            else:
                snapshot = self._local_snapshot(group, names)
            self._remember(
                key, CacheEntry(value, payload, codec, now, fresh, stale, snapshot, group)
            )

    async def delete(self, key: str) -> None:
        """Remove `key` from every tier and from the L1 of every process."""
        keycheck.check_key(key, self._max_key)
        if not self._started:
            await self.start()
        if self._l1 is not None:
            self._l1.delete(key)
        if self._l2 is None or self._bus is None:
            return
        try:
            await self._l2.delete(key, self._l2.group_of(key))
            await self._bus.announce([], [key], self._strict)
        except L2UnavailableError as error:
            if self._strict:
                raise CacheUnavailableError(f"delete could not reach Redis: {error}") from error

    async def get_or_set(
        self,
        key: str,
        loader: Loader,
        ttl: float = 60,
        swr: float = 0,
        tags: Sequence[str] = (),
    ) -> Any:
        """The cached value, or `await loader()` run once for all concurrent callers."""
        keycheck.check_key(key, self._max_key)
        _check_lifetime(ttl, swr)
        return await self._get_or_load(
            key, loader, ttl, swr, keycheck.check_tags(tags, self._max_key)
        )

    async def invalidate(self, *tags: str, soft: bool = False) -> None:
        """Kill every entry under these tags, in every tier and process, in O(1) per tag.

        `soft=True` marks them stale instead (served within their swr window while they
        refresh), as a CDN's soft purge does.
        """
        names = keycheck.check_tags(tags, self._max_key)
        await self._invalidate(names, soft)

    async def clear(self) -> None:
        """Invalidate the whole namespace (one version bump)."""
        await self._invalidate((EPOCH_TAG,), False)

    @property
    def coherence_window(self) -> float:
        """Seconds after an invalidation in which another process's L1 may still serve what
        it invalidated: 0 with no other L1 to reach (no Redis, or no L1), else the bus's
        lease, by which every process that hears the bus has applied the message. A
        strict `invalidate()` that returned was applied everywhere already. Not a bound
        when Redis is out of reach: fast mode then queues the invalidation and other
        processes keep their copies until it is replayed or they expire.

        A CDN refilled from such a process inside the window would keep the old copy
        until its TTL: `Overdrive.invalidate` purges the CDN again once the window ends.
        """
        if self._bus is None or self._l1 is None:
            return 0.0
        return self._bus.lease

    def cached(
        self,
        ttl: float = 60,
        swr: float = 0,
        tags: Sequence[str] = (),
        key: str | None = None,
    ) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T]]]:
        """Cache an async function's results; `key` and `tags` are templates over its arguments.

        @cache.cached(ttl=60, tags=("user:{user_id}",))
        async def load_user(user_id: int) -> dict: ...
        """
        from overdrive.cache.decorator import cached

        return cached(self, ttl=ttl, swr=swr, tags=tags, key=key)

    def stats(self) -> dict[str, Any]:
        """Counters per tier, L1 occupancy, circuit state and coherence figures."""
        counters = self.counters
        result: dict[str, Any] = counters.as_dict()
        l1_lookups = counters.l1_hits + counters.l1_misses
        l2_lookups = counters.l2_hits + counters.l2_misses
        result["l1_hit_ratio"] = counters.l1_hits / l1_lookups if l1_lookups else 0.0
        result["l2_hit_ratio"] = counters.l2_hits / l2_lookups if l2_lookups else 0.0
        # One definition with the dashboard, the alert rules and `overdrive load`: lookups
        # any tier served over lookups made; every lookup asks the first tier.
        l1 = self._l1
        lookups = l1_lookups if l1 is not None else l2_lookups
        hits = counters.l1_hits + counters.l2_hits
        result["hit_ratio"] = min(hits / lookups, 1.0) if lookups else 0.0
        result["l1_entries"] = len(l1) if l1 is not None else 0
        result["l1_bytes"] = l1.bytes_used if l1 is not None else 0
        result["l1_max_bytes"] = l1.max_bytes if l1 is not None else 0
        result["evictions"] = l1.evictions if l1 is not None else 0
        result["tags_known"] = len(self._versions)
        result["consistency"] = self.consistency
        result["pending_invalidations"] = len(self._pending)
        if self._l2 is not None:
            result["circuit"] = self._l2.breaker.state
            result["circuit_opened"] = self._l2.breaker.opened_count
            result["cluster"] = self._l2.cluster
        if self._bus is not None:
            result["hearing"] = self._bus.hearing()
            result["bus_resyncs"] = self._bus.resyncs
            result["bus_messages_applied"] = self._bus.messages_applied
            p50, p99 = self._bus.latency_quantiles_ms(0.5, 0.99)
            result["invalidation_latency_p50_ms"] = p50
            result["invalidation_latency_p99_ms"] = p99
        return result

    async def start(self) -> None:
        """Connect the bus (done on first use; call it to pay the cost up front)."""
        if self._started:
            return
        self._started = True
        if self._l2 is not None:
            # Connecting first tells a cluster from a single server, hence the key groups.
            with contextlib.suppress(L2UnavailableError):
                await self._l2.ping()
        if self._bus is not None:
            self._bus.start()
            # Strict mode serves L1 only once it hears the bus: wait for the first heartbeat.
            await self._bus.wait_ready(within=1.0, hearing=self._strict)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._batcher is not None:
            await self._batcher.close()
        if self._bus is not None and self._started:
            await self._bus.close()
        if self._l2 is not None:
            await self._l2.close()

    async def __aenter__(self) -> Cache:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- L1 --------------------------------------------------------------------------------

    def _l1_lookup(self, key: str, now: float) -> tuple[CacheEntry | None, int]:
        """A usable L1 entry and its tag status (VALID or SOFT_STALE), or (None, DEAD)."""
        l1 = self._l1
        if l1 is None:
            return None, DEAD
        if self._strict and not self._bus.hearing():  # type: ignore[union-attr]
            self.counters.l1_misses += 1
            return None, DEAD
        entry = l1.get(key)
        if entry is not None:
            if now < entry.stale_until:
                status = self._versions.status(entry.snapshot)
                if status == VALID or (
                    status == SOFT_STALE and entry.stale_until > entry.fresh_until
                ):
                    self.counters.l1_hits += 1
                    return entry, status
                if status == DEAD:
                    self.counters.invalidated_reads += 1
            l1.delete(key)
        self.counters.l1_misses += 1
        return None, DEAD

    def _fresh_hit(self, key: str) -> Any:
        """The value of a fresh, valid L1 entry, counted as an L1 hit; else `MISSING`.

        `@cached`'s hit path without a second coroutine or closures. It decides only the
        plain case and leaves every other one (not started, early refresh on, strict and
        not hearing, missing, stale, invalidated) untouched for `_get_or_load` to look
        up and count, so either way each call reads and counts L1 exactly once.
        """
        l1 = self._l1
        if l1 is None or not self._started or self._early:
            return MISSING
        if self._strict and not self._bus.hearing():  # type: ignore[union-attr]
            return MISSING
        # One lookup; on the rare non-fresh outcome the full path reads it again, which
        # only records that access twice in the frequency bookkeeping.
        entry = l1.get(key)
        if (
            entry is None
            or self._clock() >= entry.fresh_until
            or self._versions.status(entry.snapshot) != VALID
        ):
            return MISSING
        self.counters.l1_hits += 1
        if self._copy:
            return self._codec.decode(entry.payload, entry.codec)
        return entry.value

    def _remember(self, key: str, entry: CacheEntry) -> None:
        l1 = self._l1
        if l1 is None:
            return
        if self._versions.status(entry.snapshot) != VALID:
            return
        if self._copy:
            entry.value = None  # re-decoded per read: never share the object
        l1.set(key, entry, entry.size)

    def _private(self, entry: CacheEntry) -> CacheEntry:
        """A copy of `entry` whose value is freshly decoded (`l1_copy=True`)."""
        private = copy.copy(entry)
        private.value = self._codec.decode(entry.payload, entry.codec)
        return private

    def _value(self, entry: CacheEntry) -> Any:
        if self._copy:
            return self._codec.decode(entry.payload, entry.codec)
        return entry.value

    def _forget_keys(self, keys: list[str]) -> None:
        if self._l1 is not None:
            for key in keys:
                self._l1.delete(key)

    # -- L2 --------------------------------------------------------------------------------

    def _judged_locally(self) -> bool:
        """Fast mode with a bus that hears: L2 entries are judged against the local table.

        That table is what L1 is judged against too, kept current by the bus within the
        fast-mode bound, so an L2 read is a plain GET (batched into MGETs under load)
        instead of a Lua call. Strict mode, or a process that stopped hearing the bus,
        asks Redis to judge (the READ script), which is authoritative.
        """
        return not self._strict and self._bus is not None and self._bus.hearing()

    async def _l2_lookup(self, key: str) -> tuple[CacheEntry | None, int]:
        l2 = self._l2
        assert l2 is not None
        now = self._clock()
        group = l2.group_of(key)
        try:
            if self._judged_locally():
                raw = await self._batcher.get(l2.entry_key(key, group))  # type: ignore[union-attr]
                return await self._judge(key, group, raw, now)
            result = await l2.read(key, group, now=now)
        except L2UnavailableError:
            self.counters.l2_misses += 1
            return None, DEAD
        return self._accept_l2(key, group, result, now)

    async def _judge(
        self, key: str, group: int, raw: bytes | None, now: float
    ) -> tuple[CacheEntry | None, int]:
        """Judge a raw L2 entry against the local table, learning tags it has not seen."""
        if raw is None:
            self.counters.l2_misses += 1
            return None, DEAD
        entry = self._entry_from_wire(raw, group)
        status = self._versions.status(entry.snapshot)
        if status == DEAD:
            unknown = self._versions.unknown(entry.snapshot)
            if unknown:
                assert self._l2 is not None
                for tag_key, value in zip(unknown, await self._l2.versions(unknown), strict=True):
                    if value is not None:
                        self._versions.observe(tag_key, value[0], value[1])
                status = self._versions.status(entry.snapshot)
        return self._accept(key, entry, status, now)

    def _accept_l2(
        self, key: str, group: int, result: ReadResult, now: float
    ) -> tuple[CacheEntry | None, int]:
        if result.raw is None:
            if result.status == DEAD:
                self.counters.l2_misses += 1
            return None, DEAD
        return self._accept(key, self._entry_from_wire(result.raw, group), result.status, now)

    def _accept(
        self, key: str, entry: CacheEntry, status: int, now: float
    ) -> tuple[CacheEntry | None, int]:
        usable = now < entry.stale_until and (
            (status == VALID and not self._versions.outdated(entry.snapshot))
            or (status == SOFT_STALE and entry.stale_until > entry.fresh_until)
        )
        if not usable:
            self.counters.l2_misses += 1
            return None, DEAD
        self.counters.l2_hits += 1
        if status == VALID:
            self._versions.observe_snapshot(entry.snapshot)
            self._remember(key, entry)
        return entry, status

    def _entry_from_wire(self, raw: bytes, group: int) -> CacheEntry:
        created, fresh, stale, codec, flat, delta, payload = decode_wire(raw)
        prefix = self._tag_prefix(group)
        snapshot = tuple(
            (prefix + flat[index], int(flat[index + 1])) for index in range(0, len(flat), 2)
        )
        value = self._codec.decode(payload, codec)
        return CacheEntry(value, payload, codec, created, fresh, stale, snapshot, group, delta)

    def _tag_prefix(self, group: int) -> str:
        return self._l2.tag_prefix(group) if self._l2 is not None else self._local_prefix

    def _pairs(self, group: int, names: Sequence[str], versions: Sequence[int]) -> Snapshot:
        prefix = self._tag_prefix(group)
        return tuple(
            (prefix + name, version) for name, version in zip(names, versions, strict=True)
        )

    def _local_snapshot(self, group: int, names: Sequence[str]) -> Snapshot:
        prefix = self._tag_prefix(group)
        return self._versions.snapshot(prefix + name for name in names)

    # -- loading -------------------------------------------------------------------------------

    async def _get_or_load(
        self, key: str, loader: Loader, ttl: float, swr: float, tags: TagSource
    ) -> Any:
        if not self._started:
            await self.start()
        now = self._clock()
        entry, status = self._l1_lookup(key, now)
        if entry is not None:
            if status == VALID and now < entry.fresh_until:
                if self._early and self._expires_early(entry, now):
                    self.counters.early_refreshes += 1
                    self._refresh_in_background(key, loader, ttl, swr, tags, entry.fresh_until)
                return self._value(entry)
            self.counters.stale_served += 1
            self._refresh_in_background(key, loader, ttl, swr, tags)
            return self._value(entry)
        if key in self._flight:
            self.counters.coalesced += 1
        return await self._flight.run(key, lambda: self._fill(key, loader, ttl, swr, tags))

    def _expires_early(self, entry: CacheEntry, now: float) -> bool:
        """XFetch: refresh before expiry with a probability that grows as expiry nears."""
        delta = entry.delta or (entry.fresh_until - entry.created_at) * 0.01
        return now - delta * self._early * math.log(random.random() or 1e-12) >= entry.fresh_until

    async def _fill(self, key: str, loader: Loader, ttl: float, swr: float, tags: TagSource) -> Any:
        names = (EPOCH_TAG, *(tags() if callable(tags) else tags))
        l2, bus = self._l2, self._bus
        if l2 is None or bus is None:
            self.counters.misses += 1
            return await self._load_locally(key, loader, ttl, swr, names)
        group = l2.group_of(key)
        if self._judged_locally():
            # Most L1 misses are L2 hits: try the plain read first, the Lua read on a miss.
            entry, status = await self._l2_lookup(key)
            if entry is not None and status == VALID and self._clock() < entry.fresh_until:
                return self._value(entry)
        entry_key = l2.entry_key(key, group)
        waiter = bus.want_fill(entry_key)
        try:
            for _attempt in range(3):
                token = uuid.uuid4().hex
                now = self._clock()
                try:
                    result = await l2.read(
                        key,
                        group,
                        now=now,
                        token=token,
                        lease_ttl_ms=self._lock_ttl_ms,
                        snapshot_tags=names,
                    )
                except L2UnavailableError:
                    return await self._load_locally(key, loader, ttl, swr, names)
                entry, status = self._accept_l2(key, group, result, now)
                snapshot = self._pairs(group, names, result.versions)
                if entry is not None:
                    if status == VALID and now < entry.fresh_until:
                        return self._value(entry)
                    self.counters.stale_served += 1
                    if result.lease == 1:
                        self._refreshing.add(key)
                        self._spawn(self._refresh(key, loader, ttl, swr, names, (token, snapshot)))
                    return self._value(entry)
                if result.lease != 2:
                    self.counters.misses += 1
                    return await self._load(key, group, loader, ttl, swr, snapshot, token)
                # Another process computes this key: wait for its value to land.
                self.counters.lease_waits += 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._lock_ttl):
                        await asyncio.shield(waiter)
                bus.drop_fill(entry_key, waiter)
                waiter = bus.want_fill(entry_key)
            self.counters.misses += 1
            snapshot = self._local_snapshot(group, names)
            return await self._load(key, group, loader, ttl, swr, snapshot, "")
        finally:
            bus.drop_fill(entry_key, waiter)

    async def _run_loader(self, loader: Loader) -> tuple[Any, float]:
        started = time.perf_counter()
        self.counters.loader_runs += 1
        try:
            value = await loader()
        except BaseException:
            self.counters.loader_errors += 1
            self.counters.loader_seconds += time.perf_counter() - started
            raise
        elapsed = time.perf_counter() - started
        self.counters.loader_seconds += elapsed
        return value, elapsed

    async def _load(
        self,
        key: str,
        group: int,
        loader: Loader,
        ttl: float,
        swr: float,
        snapshot: Snapshot,
        token: str,
    ) -> Any:
        """Run the loader under a snapshot taken before it, store only if still current."""
        l2 = self._l2
        assert l2 is not None
        try:
            value, delta = await self._run_loader(loader)
        except BaseException:
            if token:
                with contextlib.suppress(L2UnavailableError):
                    await l2.release(key, group, token)
            raise
        now = self._clock()
        fresh, stale = now + ttl, now + ttl + swr
        payload, codec = self._codec.encode(value)
        entry = CacheEntry(value, payload, codec, now, fresh, stale, snapshot, group, delta)
        flat: list[Any] = []
        prefix_length = len(self._tag_prefix(group))
        for tag_key, version in snapshot:
            flat += [tag_key[prefix_length:], version]
        raw = encode_header(now, fresh, stale, codec, flat, delta) + payload
        try:
            stored = await l2.write_checked(key, group, raw, _ms(stale - now), _names(flat), token)
        except L2UnavailableError:
            stored = self._versions.status(snapshot) == VALID
            if token:
                # Do not leave the lease to expire on its own: other processes would wait
                # lock_ttl for a value that never lands, and refreshes would be skipped.
                with contextlib.suppress(L2UnavailableError):
                    await l2.release(key, group, token)
        if stored:
            self._versions.observe_snapshot(snapshot)
            self._remember(key, entry)
        else:
            self.counters.refused_stale_sets += 1
        return value

    async def _load_locally(
        self, key: str, loader: Loader, ttl: float, swr: float, names: Sequence[str]
    ) -> Any:
        """L1-only, or Redis unavailable: snapshot the local table, load, store if current."""
        group = self._l2.group_of(key) if self._l2 is not None else 0
        snapshot = self._local_snapshot(group, names)
        value, delta = await self._run_loader(loader)
        now = self._clock()
        payload, codec = self._codec.encode(value)
        entry = CacheEntry(
            value, payload, codec, now, now + ttl, now + ttl + swr, snapshot, group, delta
        )
        if self._versions.status(snapshot) == VALID:
            self._remember(key, entry)
        else:
            self.counters.refused_stale_sets += 1
        return value

    def _refresh_in_background(
        self,
        key: str,
        loader: Loader,
        ttl: float,
        swr: float,
        tags: TagSource,
        expiring_at: float = 0.0,
    ) -> None:
        if key in self._refreshing:
            return
        # Marked before the task runs: the callers arriving meanwhile must not start another.
        self._refreshing.add(key)
        names = (EPOCH_TAG, *(tags() if callable(tags) else tags))
        self._spawn(self._refresh(key, loader, ttl, swr, names, None, expiring_at))

    async def _refresh(
        self,
        key: str,
        loader: Loader,
        ttl: float,
        swr: float,
        names: Sequence[str],
        lease: tuple[str, Snapshot] | None,
        expiring_at: float = 0.0,
    ) -> None:
        """Recompute one key once, in this process and (through the lease) across processes.

        An early refresh reads L2 as of `expiring_at`, the expiry of the copy it renews: an
        entry another process already renewed past that is taken as it is.
        """
        self.counters.background_refreshes += 1
        try:
            l2 = self._l2
            if l2 is None:
                await self._load_locally(key, loader, ttl, swr, names)
                return
            group = l2.group_of(key)
            if lease is None:
                token = uuid.uuid4().hex
                try:
                    result = await l2.read(
                        key,
                        group,
                        now=max(self._clock(), expiring_at),
                        token=token,
                        lease_ttl_ms=self._lock_ttl_ms,
                        snapshot_tags=names,
                    )
                except L2UnavailableError:
                    await self._load_locally(key, loader, ttl, swr, names)
                    return
                if result.lease != 1:
                    # Fresh already (take it into L1), or another process is refreshing it.
                    self._accept_l2(key, group, result, self._clock())
                    return
                lease = (token, self._pairs(group, names, result.versions))
            token, snapshot = lease
            await self._load(key, group, loader, ttl, swr, snapshot, token)
        except Exception:
            logger.exception("overdrive: background refresh of %r failed", key)
        finally:
            self._refreshing.discard(key)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- invalidation ----------------------------------------------------------------------

    async def _invalidate(self, names: Sequence[str], soft: bool) -> None:
        if not names:
            return
        if not self._started:
            await self.start()
        self.counters.invalidations += len(names)
        l2, bus = self._l2, self._bus
        if l2 is None or bus is None:
            self._versions.bump((self._local_prefix + name for name in names), soft)
            return
        try:
            changes = await l2.bump(names, soft)
        except L2UnavailableError as error:
            self._bump_locally(names, soft)
            self._queue(names, soft)
            if self._strict:
                raise CacheUnavailableError(
                    f"invalidation applied in this process only, queued for Redis: {error}"
                ) from error
            return
        for tag_key, version, floor in changes:
            self._versions.observe(tag_key, version, floor)
        # If the publish fails, Redis still holds the new versions: every other process
        # resynchronises its table from them when its subscription comes back.
        with contextlib.suppress(L2UnavailableError):
            await bus.announce(changes, [], self._strict)

    def _bump_locally(self, names: Sequence[str], soft: bool) -> None:
        l2 = self._l2
        groups = range(l2.groups) if l2 is not None else range(1)
        self._versions.bump(
            (self._tag_prefix(group) + name for group in groups for name in names), soft
        )

    def _queue(self, names: Sequence[str], soft: bool) -> None:
        for name in names:
            self._pending[(name, soft)] = None
        if len(self._pending) > MAX_PENDING_INVALIDATIONS:
            # Too many to replay one by one: clearing the namespace loses nothing.
            self._pending = {(EPOCH_TAG, False): None}

    async def _replay_pending(self) -> None:
        """Invalidations made while Redis was unreachable, replayed once it answers."""
        if not self._pending or self._l2 is None or self._bus is None:
            return
        batch = list(self._pending)
        for soft in (False, True):
            names = [name for name, is_soft in batch if is_soft is soft]
            if not names:
                continue
            changes = await self._l2.bump(names, soft)
            for tag_key, version, floor in changes:
                self._versions.observe(tag_key, version, floor)
            await self._bus.announce(changes, [], False)
            for name in names:
                self._pending.pop((name, soft), None)


def _check_lifetime(ttl: float, swr: float) -> None:
    if not ttl > 0 or not swr >= 0 or math.isinf(ttl) or math.isinf(swr):
        raise ConfigurationError(f"ttl must be > 0 and swr >= 0 (finite), got ttl={ttl}, swr={swr}")


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _names(flat: list[Any]) -> list[tuple[str, int]]:
    return [(flat[index], flat[index + 1]) for index in range(0, len(flat), 2)]
