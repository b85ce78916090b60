"""L1 coherence across processes: one Redis pub/sub channel per namespace.

Every process subscribes and applies the tag versions others publish to its own table,
so their L1 entries under those tags die at once.

A process proves it hears the channel by hearing its own heartbeat come back through
it. Each heard heartbeat extends `hearing_until` (from the moment the heartbeat was
*sent*, so a process paused with heartbeats in flight does not extend itself on resume)
and renews its registration among the live nodes. Strict invalidations wait for an
acknowledgement from every live node; a node that stops hearing drops out of the live
set once its registration lapses, and by then it has already stopped serving from L1.
After a gap in the subscription (reconnect), the table is resynchronised from Redis
before anything else is read from the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from overdrive.cache import messages
from overdrive.cache.redis_tier import L2UnavailableError, RedisTier
from overdrive.cache.tags import TagVersions
from overdrive.errors import CacheUnavailableError

logger = logging.getLogger("overdrive.cache")

# Share of the lease during which a node trusts its own hearing: the rest absorbs clock
# drift between the node and the invalidator reading the registration.
TRUST_SHARE = 0.8


@dataclass(slots=True)
class _AckWait:
    pending: set[str] | None = None  # known once the live set is read, after publishing
    acked: set[str] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class InvalidationBus:
    def __init__(
        self,
        tier: RedisTier,
        versions: TagVersions,
        *,
        on_keys_deleted: Callable[[list[str]], None],
        heartbeat_interval: float = 0.25,
        lease: float = 2.0,
        maintenance: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.tier = tier
        self.versions = versions
        self.node = uuid.uuid4().hex[:16]
        self.heartbeat_interval = heartbeat_interval
        self.lease = lease
        self.hearing_until = 0.0
        self.latencies: list[float] = []
        self.resyncs = 0
        self.messages_applied = 0
        self._on_keys_deleted = on_keys_deleted
        self._maintenance = maintenance
        self._sent: dict[int, tuple[float, float]] = {}
        self._sequence = 0
        self._acks: dict[str, _AckWait] = {}
        self._fills: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()
        self._heard = asyncio.Event()
        self._closed = False

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        for loop in (self._listen(), self._heartbeat()):
            self._spawn(loop)

    async def wait_ready(self, within: float, hearing: bool) -> bool:
        """Wait until subscribed (and, if asked, until our own heartbeat came back)."""
        event = self._heard if hearing else self._subscribed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await event.wait()
        return event.is_set()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(L2UnavailableError):
            await self.tier.unregister_node(self.node)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def hearing(self) -> bool:
        return self.hearing_until > time.monotonic()

    # -- fills: waiters woken when a value lands -------------------------------------------

    def want_fill(self, entry_key: str) -> asyncio.Future[None]:
        future = self._fills.get(entry_key)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._fills[entry_key] = future
        return future

    def drop_fill(self, entry_key: str, future: asyncio.Future[None]) -> None:
        if self._fills.get(entry_key) is future:
            del self._fills[entry_key]

    # -- publishing ----------------------------------------------------------------------

    async def announce(
        self, changes: list[messages.Change], deleted: list[str], strict: bool
    ) -> None:
        """Tell every other process; in strict mode, return once every live one applied it."""
        message_id = uuid.uuid4().hex[:16]
        payload = messages.encode(
            messages.INVALIDATE, self.node, message_id, strict, changes, deleted, time.time()
        )
        if not strict:
            await self.tier.publish(payload)
            return
        wait = _AckWait()
        self._acks[message_id] = wait
        try:
            await self.tier.publish(payload)
            # The live set is read after publishing: a process that registers later heard
            # its own heartbeat after this message, so it applied this message first.
            live = await self.tier.live_nodes(_now_ms())
            wait.pending = live - wait.acked - {self.node}
            await self._await_acks(wait)
        except L2UnavailableError as error:
            raise CacheUnavailableError(
                f"strict invalidation could not reach Redis: {error}"
            ) from error
        finally:
            self._acks.pop(message_id, None)

    async def _await_acks(self, wait: _AckWait) -> None:
        assert wait.pending is not None
        deadline = time.monotonic() + self.lease * 2 + 1
        while wait.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CacheUnavailableError(
                    f"{len(wait.pending)} live process(es) did not acknowledge the "
                    f"invalidation within {self.lease * 2 + 1:.1f}s"
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(0.1, remaining)):
                    await wait.done.wait()
            if wait.pending:
                # A node that stopped hearing drops out of the live set when its lease ends.
                wait.pending &= await self.tier.live_nodes(_now_ms())

    # -- the listener ----------------------------------------------------------------------

    async def _listen(self) -> None:
        backoff = 0.05
        while not self._closed:
            connection = aioredis.Redis.from_url(
                self.tier.subscriber_url(), socket_connect_timeout=self.tier.timeout * 4
            )
            pubsub = connection.pubsub()
            try:
                await pubsub.subscribe(self.tier.channel)
                await self._resync()
                self._subscribed.set()
                backoff = 0.05
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._handle(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.hearing_until = 0.0
                self._subscribed.clear()
                logger.warning("overdrive: invalidation bus lost (%s); reconnecting", error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await connection.aclose()

    async def _resync(self) -> None:
        """Re-read every known tag version: messages may have been missed during a gap."""
        keys = list(self.versions.current)
        self.resyncs += 1
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            for key, value in zip(chunk, await self.tier.versions(chunk), strict=True):
                if value is None:
                    self.versions.forget((key,))
                else:
                    self.versions.reset(key, value[0], value[1])

    def _handle(self, data: bytes) -> None:
        try:
            fields = messages.decode(data)
            kind = fields[0]
            if kind == messages.INVALIDATE:
                self._on_invalidate(fields)
            elif kind == messages.HEARTBEAT:
                self._on_heartbeat(fields)
            elif kind == messages.ACK:
                self._on_ack(fields)
            elif kind == messages.FILL:
                future = self._fills.get(fields[1])
                if future is not None and not future.done():
                    future.set_result(None)
        except Exception:
            logger.exception("overdrive: malformed message on the invalidation bus")

    def _on_invalidate(self, fields: list[Any]) -> None:
        _, origin, message_id, wants_ack, changes, deleted, sent_at = fields
        if origin == self.node:
            return
        for key, version, floor in changes:
            self.versions.observe(key, version, floor)
        if deleted:
            self._on_keys_deleted(deleted)
        self.messages_applied += 1
        self._record_latency(time.time() - sent_at)
        if wants_ack:
            self._spawn(self._ack(message_id, origin))

    def latency_quantiles_ms(self, *quantiles: float) -> list[float | None]:
        """Fan-out latency (another node sent, this node applied) at each quantile, in ms.

        Nearest rank over the last 5,000-10,000 messages; None before any arrived.
        """
        ordered = sorted(self.latencies)
        if not ordered:
            return [None for _ in quantiles]
        last = len(ordered) - 1
        return [ordered[min(last, max(0, math.ceil(q * len(ordered)) - 1))] * 1000
                for q in quantiles]

    def _record_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)
        if len(self.latencies) > 10_000:
            del self.latencies[:5_000]

    async def _ack(self, message_id: str, origin: str) -> None:
        with contextlib.suppress(L2UnavailableError):
            await self.tier.publish(messages.encode(messages.ACK, self.node, message_id, origin))

    def _on_ack(self, fields: list[Any]) -> None:
        _, node, message_id, origin = fields
        if origin != self.node:
            return
        wait = self._acks.get(message_id)
        if wait is not None:
            wait.acked.add(node)
            if wait.pending is not None:
                wait.pending.discard(node)
                if not wait.pending:
                    wait.done.set()

    def _on_heartbeat(self, fields: list[Any]) -> None:
        _, node, sequence = fields
        if node != self.node:
            return
        sent = self._sent.pop(sequence, None)
        if sent is None:
            return
        self._spawn(self._register(*sent))

    async def _register(self, sent_monotonic: float, sent_wall: float) -> None:
        """Join the live set, then trust our hearing: never serve L1 while unregistered,
        or a strict invalidation could skip us."""
        with contextlib.suppress(L2UnavailableError):
            expires = int((sent_wall + self.lease) * 1000)
            await self.tier.register_node(self.node, expires, _now_ms())
            self.hearing_until = max(self.hearing_until, sent_monotonic + self.lease * TRUST_SHARE)
            self._heard.set()

    # -- the heartbeat -----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while not self._closed:
            self._sequence += 1
            self._sent[self._sequence] = (time.monotonic(), time.time())
            for old in [s for s in self._sent if s < self._sequence - 20]:
                del self._sent[old]
            with contextlib.suppress(L2UnavailableError):
                await self.tier.publish(
                    messages.encode(messages.HEARTBEAT, self.node, self._sequence)
                )
                if self._maintenance is not None:
                    await self._maintenance()
            await asyncio.sleep(self.heartbeat_interval)


def _now_ms() -> int:
    return int(time.time() * 1000)
