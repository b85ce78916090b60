"""L2: Redis, one round trip per read including the tag check, behind a circuit breaker.

Every call is bounded by `timeout`; a timeout or connection error is counted, feeds the
breaker, and comes back as `L2UnavailableError` so the cache can degrade to L1 and the
loader. The connection pool blocks instead of raising when a burst wants more
connections than it has, and reads of the same key are coalesced, so a thousand
concurrent callers cost one command and never exhaust the pool.

Key layout, all under one hash tag per (namespace, group) so scripts stay on one node:
    {ns:g}:e:<key>   entry (msgpack header + payload, PX = until stale_until)
    {ns:g}:l:<key>   loader lease (token)       {ns:g}:w:<key>  "someone waits" flag
    {ns:g}:t:<tag>   tag version ("S" or "S,H")
A single Redis uses one group; a cluster spreads entries over `cluster_groups` slots,
and an invalidation bumps the tag once per group (O(groups), never O(keys)).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisError

from overdrive.cache import messages, scripts
from overdrive.cache.breaker import CircuitBreaker
from overdrive.cache.stats import CacheCounters

T = TypeVar("T")

TAG_TTL_MS = 7 * 24 * 3600 * 1000
EPOCH_TAG = ""  # implicit tag of every entry: invalidating it clears the namespace


class L2UnavailableError(Exception):
    """Redis did not answer in time, failed, or the breaker is open (internal)."""


@dataclass(slots=True)
class ReadResult:
    raw: bytes | None
    status: int
    lease: int
    versions: list[int]


class RedisTier:
    def __init__(
        self,
        url: str,
        namespace: str,
        counters: CacheCounters,
        *,
        timeout: float = 0.25,
        max_connections: int = 64,
        cluster: bool | None = None,
        cluster_groups: int = 64,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.timeout = timeout
        self.max_connections = max_connections
        self.counters = counters
        self.breaker = breaker or CircuitBreaker()
        self.channel = f"{namespace}:bus"
        self.nodes_key = f"{{{namespace}}}:nodes"
        self._cluster_setting = cluster
        self._cluster_groups = cluster_groups
        self.cluster = False
        self.groups = 1
        self._client: Any = None
        self._connect_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_connections)
        self._prefixes = [self._prefix(0)]

    # -- naming --------------------------------------------------------------------------

    def _prefix(self, group: int) -> str:
        return f"{{{self.namespace}:{group}}}:"

    def group_of(self, key: str) -> int:
        if self.groups == 1:
            return 0
        return zlib.crc32(key.encode("utf-8", "surrogatepass")) % self.groups

    def tag_prefix(self, group: int) -> str:
        return self._prefixes[group] + "t:"

    def entry_key(self, key: str, group: int) -> str:
        return self._prefixes[group] + "e:" + key

    def keys_for(self, key: str, group: int) -> list[str]:
        prefix = self._prefixes[group]
        return [prefix + "e:" + key, prefix + "l:" + key, prefix + "w:" + key]

    # -- connection ------------------------------------------------------------------------

    async def client(self) -> Any:
        if self._client is None:
            async with self._connect_lock:
                if self._client is None:
                    await self._connect()
        return self._client

    async def _connect(self) -> None:
        is_cluster = self._cluster_setting
        if is_cluster is None:
            probe = aioredis.Redis.from_url(self.url, socket_timeout=self.timeout * 4)
            try:
                info = await probe.info("cluster")
                is_cluster = bool(info.get("cluster_enabled"))
            finally:
                await probe.aclose()
        if is_cluster:
            client: Any = RedisCluster.from_url(
                self.url,
                socket_connect_timeout=self.timeout,
                max_connections=self.max_connections * 2,
            )
            await client.initialize()
            self.cluster = True
            self.groups = self._cluster_groups
        else:
            # A plain pool with room to spare: `_slots` caps the commands in flight, so a
            # burst waits for a slot instead of raising MaxConnectionsError, and the wait
            # is cheap (BlockingConnectionPool's condition variable and per-read socket
            # timers cost more than the GET they guard; `call` bounds each operation).
            pool = aioredis.ConnectionPool.from_url(
                self.url,
                max_connections=self.max_connections * 2,
                socket_connect_timeout=self.timeout,
            )
            client = aioredis.Redis(connection_pool=pool)
        self._prefixes = [self._prefix(group) for group in range(self.groups)]
        self._scripts = {
            name: client.register_script(source)
            for name, source in (
                ("read", scripts.READ),
                ("write", scripts.WRITE),
                ("release", scripts.RELEASE),
                ("bump", scripts.BUMP),
            )
        }
        self._client = client

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            if self.cluster:
                await client.aclose()
            else:
                # A pool passed in explicitly is not closed by the client: close it here.
                await client.aclose(close_connection_pool=True)

    def subscriber_url(self) -> str:
        """A plain connection for pub/sub: classic PUBLISH reaches every cluster node."""
        return self.url

    # -- guarded execution -------------------------------------------------------------------

    async def call(self, operation: Callable[[Any], Awaitable[T]]) -> T:
        """Run one Redis operation within the timeout and the breaker, else L2UnavailableError."""
        if not self.breaker.allow():
            self.counters.l2_skipped += 1
            raise L2UnavailableError("circuit open")
        try:
            async with asyncio.timeout(self.timeout), self._slots:
                client = self._client or await self.client()
                result = await operation(client)
        except (RedisError, OSError, TimeoutError) as error:
            self.counters.l2_errors += 1
            self.breaker.record_failure()
            raise L2UnavailableError(str(error) or type(error).__name__) from error
        self.breaker.record_success()
        return result

    async def fetch(self, entry_keys: Sequence[str]) -> list[bytes | None]:
        """Raw entries by full key: GET for one, MGET for several (per node in a cluster).

        The fast-mode read path: the same guard as `call`, without its closure.
        """
        if not self.breaker.allow():
            self.counters.l2_skipped += 1
            raise L2UnavailableError("circuit open")
        try:
            async with asyncio.timeout(self.timeout), self._slots:
                client = self._client or await self.client()
                if len(entry_keys) == 1:
                    values = [await client.get(entry_keys[0])]
                elif self.cluster:
                    values = list(await client.mget_nonatomic(list(entry_keys)))
                else:
                    values = list(await client.mget(entry_keys))
        except (RedisError, OSError, TimeoutError) as error:
            self.counters.l2_errors += 1
            self.breaker.record_failure()
            raise L2UnavailableError(str(error) or type(error).__name__) from error
        self.breaker.record_success()
        return values

    async def _batch(
        self, client: Any, name: str, calls: Sequence[tuple[list[str], list[Any]]]
    ) -> list[Any]:
        """Run one script many times: one pipeline on a single Redis; in a cluster, where
        redis-py refuses scripts in pipelines, concurrent calls routed to their nodes.

        The pipeline carries bare EVALSHAs: a redis-py `Script` in a pipeline makes every
        execution ask SCRIPT EXISTS first, one more round trip per batch (an invalidation
        took three instead of two). A server that lost the script (restarted, flushed)
        fails every call of the batch alike, so none ran: load it and send the batch again.
        """
        script = self._scripts[name]
        if self.cluster:
            return list(
                await asyncio.gather(*(script(keys=k, args=a, client=client) for k, a in calls))
            )

        def pipeline() -> Any:
            pipe = client.pipeline(transaction=False)
            for keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            return pipe

        try:
            return list(await pipeline().execute())
        except NoScriptError:
            script.sha = await client.script_load(script.script)
            return list(await pipeline().execute())

    # -- operations --------------------------------------------------------------------------

    def _read_args(
        self, group: int, token: str, lease_ttl_ms: int, now: float, tags: Sequence[str]
    ) -> list[Any]:
        return [self.tag_prefix(group), token, lease_ttl_ms, TAG_TTL_MS, repr(now), *tags]

    @staticmethod
    def _read_result(reply: list[Any]) -> ReadResult:
        raw = reply[0] or None
        return ReadResult(raw, int(reply[1]), int(reply[2]), [int(v) for v in reply[3:]])

    async def read(
        self,
        key: str,
        group: int,
        *,
        now: float,
        token: str = "",
        lease_ttl_ms: int = 0,
        snapshot_tags: Sequence[str] = (),
    ) -> ReadResult:
        keys = self.keys_for(key, group)
        args = self._read_args(group, token, lease_ttl_ms, now, snapshot_tags)

        async def run(client: Any) -> ReadResult:
            reply = await self._scripts["read"](keys=keys, args=args, client=client)
            return self._read_result(reply)

        return await self.call(run)

    async def read_many(self, keys: Sequence[tuple[str, int]], *, now: float) -> list[ReadResult]:
        calls = [
            (self.keys_for(key, group), self._read_args(group, "", 0, now, ()))
            for key, group in keys
        ]

        async def run(client: Any) -> list[ReadResult]:
            replies = await self._batch(client, "read", calls)
            return [self._read_result(reply) for reply in replies]

        return await self.call(run)

    def _write_head(
        self, key: str, group: int, ttl_ms: int, token: str
    ) -> tuple[list[str], list[Any]]:
        return self.keys_for(key, group), [
            self.tag_prefix(group),
            max(1, ttl_ms),
            token,
            TAG_TTL_MS,
            self.channel,
            fill_message(self.entry_key(key, group)),
        ]

    async def write_checked(
        self,
        key: str,
        group: int,
        raw: bytes,
        ttl_ms: int,
        pairs: Iterable[tuple[str, int]],
        token: str = "",
    ) -> bool:
        """Store a loader's value only if its tag snapshot is still current (stale-set race)."""
        keys, args = self._write_head(key, group, ttl_ms, token)
        args += ["check", raw]
        for name, version in pairs:
            args += [name, version]

        async def run(client: Any) -> bool:
            reply = await self._scripts["write"](keys=keys, args=args, client=client)
            return bool(int(reply[0]))

        return await self.call(run)

    def _stamp_args(
        self,
        key: str,
        group: int,
        header: tuple[float, float, float, int],
        payload: bytes,
        tags: Sequence[str],
        ttl_ms: int,
    ) -> tuple[list[str], list[Any]]:
        keys, args = self._write_head(key, group, ttl_ms, "")
        created, fresh, stale, codec = header
        args += ["stamp", repr(created), repr(fresh), repr(stale), codec, payload, *tags]
        return keys, args

    async def write_stamped(
        self,
        key: str,
        group: int,
        header: tuple[float, float, float, int],
        payload: bytes,
        tags: Sequence[str],
        ttl_ms: int,
    ) -> list[int]:
        """Store a value given now, stamped with the tags' current versions (returned)."""
        keys, args = self._stamp_args(key, group, header, payload, tags, ttl_ms)

        async def run(client: Any) -> list[int]:
            reply = await self._scripts["write"](keys=keys, args=args, client=client)
            return [int(v) for v in reply[1:]]

        return await self.call(run)

    async def write_stamped_many(
        self,
        items: Sequence[tuple[str, int, tuple[float, float, float, int], bytes]],
        tags: Sequence[str],
        ttl_ms: int,
    ) -> list[list[int]]:
        calls = [
            self._stamp_args(key, group, header, payload, tags, ttl_ms)
            for key, group, header, payload in items
        ]

        async def run(client: Any) -> list[list[int]]:
            replies = await self._batch(client, "write", calls)
            return [[int(v) for v in reply[1:]] for reply in replies]

        return await self.call(run)

    async def release(self, key: str, group: int, token: str) -> None:
        keys = self.keys_for(key, group)[1:]
        args = [token, self.channel, fill_message(self.entry_key(key, group))]

        async def run(client: Any) -> None:
            await self._scripts["release"](keys=keys, args=args, client=client)

        await self.call(run)

    async def delete(self, key: str, group: int) -> None:
        entry = self.entry_key(key, group)
        await self.call(lambda client: client.delete(entry))

    async def bump(self, tags: Sequence[str], soft: bool) -> list[tuple[str, int, int | None]]:
        """Raise the tags' versions in every group; returns (tag key, version, floor)."""

        calls = [
            (
                [self.tag_prefix(group) + tags[0]],
                [self.tag_prefix(group), "1" if soft else "0", TAG_TTL_MS, *tags],
            )
            for group in range(self.groups)
        ]

        async def run(client: Any) -> list[tuple[str, int, int | None]]:
            replies = await self._batch(client, "bump", calls)
            changes = []
            for group, reply in enumerate(replies):
                prefix = self.tag_prefix(group)
                for index, tag in enumerate(tags):
                    version, floor = reply[2 * index], reply[2 * index + 1]
                    changes.append((prefix + tag, int(version), int(floor) if floor else None))
            return changes

        return await self.call(run)

    async def versions(self, tag_keys: Sequence[str]) -> list[tuple[int, int | None] | None]:
        """Current (version, floor) of full tag keys, to resynchronise after a gap."""

        async def run(client: Any) -> list[tuple[int, int | None] | None]:
            pipe = client.pipeline(transaction=False)
            for key in tag_keys:
                pipe.get(key)
            replies = await pipe.execute()
            return [parse_version(raw) for raw in replies]

        return await self.call(run)

    async def ping(self) -> None:
        """Connect (and so learn whether this is a cluster) within the timeout."""
        await self.call(lambda client: client.ping())

    async def publish(self, message: bytes) -> None:
        await self.call(lambda client: client.publish(self.channel, message))

    async def register_node(self, node: str, expires_ms: int, now_ms: int) -> None:
        async def run(client: Any) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.zadd(self.nodes_key, {node: expires_ms})
            pipe.zremrangebyscore(self.nodes_key, "-inf", now_ms)
            pipe.pexpire(self.nodes_key, 24 * 3600 * 1000)
            await pipe.execute()

        await self.call(run)

    async def unregister_node(self, node: str) -> None:
        await self.call(lambda client: client.zrem(self.nodes_key, node))

    async def live_nodes(self, now_ms: int) -> set[str]:
        async def run(client: Any) -> set[str]:
            members = await client.zrangebyscore(self.nodes_key, now_ms, "+inf")
            return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

        return await self.call(run)


def parse_version(raw: bytes | str | None) -> tuple[int, int | None] | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    version, _, floor = text.partition(",")
    return int(version), int(floor) if floor else None


def fill_message(entry_key: str) -> bytes:
    return messages.encode_fill(entry_key)
