"""The response cache: a shared cache in the sense of RFC 9111, in front of the routing.

Lookup happens before the application sees the request: method (GET, HEAD), host, path,
normalised query, and the request headers the stored `Vary` names. A hit is answered
from the stored entry and never enters the application. On a miss the application's own
headers decide what is stored (`stored_response.decide_storage`), so `cache_policy`, a
hand-written `Cache-Control` and a CDN in front all agree.

Entries live in `overdrive.Cache` under `<namespace>:rc:<host><path>?<query>`. A response
with a `Vary` leaves a small descriptor at that key naming the varying headers, and the
body at the key plus a hash of those header values (credentials included, never in clear).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

from overdrive.http.compression import CompressingSend, Compressor, add_vary, weaken_etag
from overdrive.http.guard import GuardVerdict, check_guard
from overdrive.http.invalidation_log import InvalidationLog
from overdrive.http.policy import OVERDRIVE_CACHE_CONTROL
from overdrive.http.recorder import ResponseRecorder
from overdrive.http.request_facts import (
    DEFAULT_UNKEYED_PROBE_HEADERS,
    HeaderScanner,
    RequestFacts,
)
from overdrive.http.stored_response import (
    HOP_HEADERS,
    NOT_MODIFIED_HEADERS,
    StorageDecision,
    entry_etag,
    etag_matches,
    variant_suffix,
)
from overdrive.http.timing import TIMING_SCOPE_KEY, RequestTiming
from overdrive.routes import ROUTE_SCOPE_KEY
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_UNKEYED_PROBE_HEADERS", "ResponseCacheMiddleware"]

logger = logging.getLogger("overdrive.http")

_KEY_LIMIT = 900

# Server-Timing's cache description per tier that answered (`Cache.lookup` names it).
_HIT_DESC = {"l1": b"hit l1", "l2": b"hit l2", "": b"hit"}
_STALE_DESC = {"l1": b"stale l1", "l2": b"stale l2", "": b"stale"}

class EntryLike(Protocol):
    value: Any
    created_at: float
    fresh_until: float
    stale_until: float


class CacheLike(Protocol):
    """The part of `overdrive.Cache` the response cache uses."""

    def peek_entry(self, key: str) -> Any: ...

    async def lookup(self, key: str) -> tuple[Any, str]: ...

    async def set_many(
        self, mapping: Any, ttl: float = ..., swr: float = ..., tags: Any = ...
    ) -> None: ...


class ResponseCacheMiddleware:
    """Caches responses the application marks cacheable; answers hits before routing.

    ```python
    app.add_middleware(ResponseCacheMiddleware, cache=Cache("redis://127.0.0.1:6379/0"),
                       compressor=Compressor())
    ```
    With a `compressor` the cache also does the compression: stored bodies are compressed
    once per encoding when stored, and whatever it does not store is compressed on the way
    out, so no separate CompressionMiddleware is needed (nor wanted: it would wrap hits).

    With `server_timing=time.perf_counter` the cache also writes `Server-Timing`, as
    `ServerTimingMiddleware` around it would, minus that layer's coroutine on every
    request: a hit is then answered within this one coroutine. `Overdrive` does so when
    no other layer (rate limit, db hook) needs to sit between the two.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        cache: CacheLike,
        namespace: str = "http",
        status_header: str = "X-Cache",
        compressor: Compressor | None = None,
        max_body_size: int = 8 * 1024 * 1024,
        max_header_size: int = 8 * 1024,
        unkeyed_probe_headers: frozenset[str] = DEFAULT_UNKEYED_PROBE_HEADERS,
        honour_request_no_cache: bool = True,
        uncacheable_memory: float = 5.0,
        clock: Callable[[], float] = time.time,
        server_timing: Callable[[], float] | None = None,
    ) -> None:
        self.app = app
        self.server_timing = server_timing
        self.cache = cache
        self.prefix = f"{namespace}:rc:"
        self.status_header = status_header.lower().encode()
        self.compressor = compressor
        self.max_body_size = max_body_size
        self._scan = HeaderScanner(max_header_size=max_header_size,
                                   unkeyed_probe_headers=unkeyed_probe_headers,
                                   honour_request_no_cache=honour_request_no_cache)
        self.clock = clock
        self.targeted_field = OVERDRIVE_CACHE_CONTROL.lower().encode()
        self.hit_header = (self.status_header, b"HIT")
        self.stale_header = (self.status_header, b"STALE")
        self.miss_header = (self.status_header, b"MISS")
        self.bypass_header = (self.status_header, b"BYPASS")
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._query_memo: dict[bytes, str] = {}
        self._uncacheable: dict[str, float] = {}
        self.uncacheable_memory = uncacheable_memory
        self.counters = {"hit": 0, "stale": 0, "miss": 0, "bypass": 0, "stored": 0,
                         "coalesced": 0, "stale_if_error": 0, "errors": 0,
                         "refused_stale_sets": 0, "guard_refused": 0, "guard_errors": 0,
                         "guard_unknown": 0}
        self.invalidations = InvalidationLog()

    # -- lookup --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        timing: RequestTiming | None
        if self.server_timing is not None and scope["type"] == "http":
            # Handed down as `send`, not kept in the scope: the timing holds the server's
            # send, bound to its per-request object that holds the scope, and that cycle
            # left every request to the cyclic GC (full collections stalled responses).
            send = timing = RequestTiming(send, self.server_timing)
            started = timing.started  # the cache's work starts with the request: one read
        else:
            timing = scope.get(TIMING_SCOPE_KEY)
            started = timing.clock() if timing is not None else 0.0
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            if scope["type"] == "http":
                await self._pass(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        facts = self._scan(scope["headers"])
        if facts.bypass:
            self.counters["bypass"] += 1
            await self._pass(scope, receive, send)
            return
        key = self._key(scope, facts.host)
        if facts.revalidate:
            entry, tier = None, ""
        else:
            # The common hit, an L1 entry without Vary, is found without a coroutine.
            try:
                entry = self.cache.peek_entry(key)
            except Exception:  # counted and logged by the `_lookup` that follows
                entry = None
            if entry is None or "v" in entry.value:
                entry, tier = await self._lookup(key, facts, entry)
            else:
                tier = "l1"
        if entry is not None:
            # One shared copy, not for this request: the application answers it (401/403)
            # and nothing it says is stored over the copy.
            if "g" in entry.value and await self._refused(entry, scope, receive, send, facts):
                return
            now = self.clock()
            if now < entry.fresh_until:
                # The hit: answered within this one coroutine, no further frame awaited.
                self.counters["hit"] += 1
                send, start, body = self._answer(entry, facts, scope, send, now,
                                                 self.hit_header, timing, _HIT_DESC[tier],
                                                 started)
                await send(start)
                await send(body)
                return
            if now < entry.fresh_until + entry.value["w"]:
                self.counters["stale"] += 1
                self._refresh_in_background(key, scope, entry.value["n"], "g" in entry.value)
                await self._serve(entry, facts, scope, send, now, self.stale_header,
                                  timing, _STALE_DESC[tier], started)
                return
        if facts.only_if_cached:
            # RFC 9111 §5.2.1.7: nothing stored that may be served, so 504, not the origin.
            await send({"type": "http.response.start", "status": 504,
                        "headers": [(b"content-length", b"0"), self.miss_header]})
            await send({"type": "http.response.body", "body": b""})
            return
        self.counters["miss"] += 1
        if timing is not None:
            timing.cache_status, timing.cache_duration = b"miss", timing.clock() - started
        stale = (entry, tier) if entry is not None and entry.value["e"] else None
        if facts.revalidate and not facts.no_store:
            entry, tier = await self._lookup(key, facts)
            if (entry is not None and "g" in entry.value
                    and await self._refused(entry, scope, receive, send, facts)):
                return
            stale = (entry, tier) if entry is not None and entry.value["e"] else None
        await self._miss_coalesced(key, scope, receive, send, facts, stale, timing)

    def _key(self, scope: Scope, host: bytes) -> str:
        query: bytes = scope.get("query_string", b"")
        normalised = self._query_memo.get(query) if query else ""
        if normalised is None:
            normalised = urlencode(sorted(parse_qsl(query.decode("latin-1"),
                                                    keep_blank_values=True)))
            if len(self._query_memo) >= 4096:
                self._query_memo.clear()
            self._query_memo[query] = normalised
        key = f"{self.prefix}{host.decode('latin-1')}{scope['path']}?{normalised}"
        if len(key) > _KEY_LIMIT:
            key = f"{self.prefix}#{hashlib.sha256(key.encode()).hexdigest()}"
        return key

    async def _lookup(self, key: str, facts: RequestFacts, peeked: Any = None
                      ) -> tuple[Any, str]:
        """The stored entry for this request (the variant its Vary headers select) and
        the tier that answered; (None, "") when there is none or the cache failed.
        `peeked` is what `cache.peek_entry` already found in L1 for `key`."""
        try:
            if peeked is not None:
                entry, tier = peeked, "l1"
            else:
                entry, tier = await self.cache.lookup(key)
            if entry is None:
                return None, ""
            names = entry.value.get("v")
            if names is None:
                return entry, tier
            return await self.cache.lookup(f"{key}|{variant_suffix(names, facts.headers)}")
        except Exception as error:  # the cache failing must not fail the request
            self.counters["errors"] += 1
            logger.warning("response cache lookup failed, answering from the origin: %r", error)
            return None, ""

    async def _serve(
        self, entry: EntryLike, facts: RequestFacts, scope: Scope, send: Send, now: float,
        status: tuple[bytes, bytes], timing: RequestTiming | None = None, desc: bytes = b"",
        started: float = 0.0,
    ) -> None:
        send, start, body = self._answer(entry, facts, scope, send, now, status, timing, desc,
                                         started)
        await send(start)
        await send(body)

    def _answer(
        self, entry: EntryLike, facts: RequestFacts, scope: Scope, send: Send, now: float,
        status: tuple[bytes, bytes], timing: RequestTiming | None, desc: bytes,
        started: float,
    ) -> tuple[Send, Message, Message]:
        """The two messages answering from a stored entry, and the `send` they go to.

        The header lists were built when the entry was stored, so a hit only adds Age,
        the status and, when the timing layer hands its `send` straight to us,
        Server-Timing (then the messages go past that layer's wrapper: one hop fewer)."""
        value = entry.value
        scope[ROUTE_SCOPE_KEY] = value.get("r")  # for metrics: a hit never reaches the router
        age = (b"age", b"%d" % max(0, int(now - entry.created_at)))
        body: bytes = value["b"]
        etag: bytes = value["t"]
        headers = value["i"]
        if value["c"] and facts.accept_encoding and self.compressor is not None:
            encoding = self.compressor.negotiate(facts.accept_encoding)
            if encoding is not None and encoding in value["c"]:
                body = value["c"][encoding]
                headers = value["z"][encoding]
                etag = weaken_etag(etag)
        if facts.if_none_match and etag_matches(facts.if_none_match, etag):
            headers = [*(item for item in value["h"] if item[0] in NOT_MODIFIED_HEADERS),
                       (b"etag", etag), age, status]
            code, body = 304, b""
        else:
            headers = [*headers, age, status]
            code = value["s"]
        if timing is not None:
            if send is timing:
                headers.append(timing.answered(desc, started))
                send = timing.send
            else:
                timing.cache_status, timing.cache_duration = desc, timing.clock() - started
        return send, {"type": "http.response.start", "status": code, "headers": headers}, {
            "type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}

    # -- miss ----------------------------------------------------------------------------

    async def _miss_coalesced(
        self, key: str, scope: Scope, receive: Receive, send: Send, facts: RequestFacts,
        stale: tuple[Any, str] | None, timing: RequestTiming | None,
    ) -> None:
        if scope["method"] != "GET" or self._known_uncacheable(key):
            # HEAD never stores, and a key whose last answer was not storable is not worth
            # queueing behind (hit-for-pass): both go straight to the application.
            await self._fill(key, scope, receive, send, facts, stale, timing)
            return
        leader = self._inflight.get(key)
        if leader is not None and not facts.revalidate:
            self.counters["coalesced"] += 1
            await asyncio.shield(leader)
            started = timing.clock() if timing is not None else 0.0
            entry, tier = await self._lookup(key, facts)
            now = self.clock()
            if entry is not None and now < entry.fresh_until:
                if "g" in entry.value and await self._refused(entry, scope, receive, send,
                                                              facts):
                    return
                await self._serve(entry, facts, scope, send, now, self.hit_header,
                                  timing, _HIT_DESC[tier], started)
                return
            await self._fill(key, scope, receive, send, facts, stale, timing)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            await self._fill(key, scope, receive, send, facts, stale, timing)
        finally:
            del self._inflight[key]
            future.set_result(None)

    async def _fill(
        self, key: str, scope: Scope, receive: Receive, send: Send, facts: RequestFacts,
        stale: tuple[Any, str] | None, timing: RequestTiming | None,
    ) -> None:
        stale_entry = stale[0] if stale is not None else None
        recorder = ResponseRecorder(self, key, scope, facts, self._compressing(send, facts),
                                    stale_entry)
        started = timing.clock() if timing is not None else 0.0
        try:
            await self.app(scope, receive, recorder.send)
        except Exception:
            if stale is None or recorder.started:
                raise
            logger.warning("origin failed for %s: serving the stale copy", key, exc_info=True)
            recorder.use_stale = True
        if timing is not None:
            timing.app_duration = timing.clock() - started
        if recorder.storing and recorder.decision is None and not recorder.use_stale:
            self._remember_uncacheable(key)
        if recorder.use_stale:
            assert stale is not None
            self.counters["stale_if_error"] += 1
            if timing is not None:
                timing.cache_status = _STALE_DESC[stale[1]]
            await self._serve(stale[0], facts, scope, send, self.clock(), self.stale_header)
            return
        await recorder.finish()

    async def _refused(self, entry: EntryLike, scope: Scope, receive: Receive, send: Send,
                       facts: RequestFacts) -> bool:
        """Whether the guard of a guarded entry refused this request, which is then
        answered here (counted): by the application, unstored, or 504 if only-if-cached."""
        verdict = await check_guard(entry.value["g"], scope, entry.value["p"])
        if verdict == GuardVerdict.ADMITTED:
            return False
        self.counters[verdict] += 1
        if facts.only_if_cached:
            await send({"type": "http.response.start", "status": 504,
                        "headers": [(b"content-length", b"0"), self.miss_header]})
            await send({"type": "http.response.body", "body": b""})
            return True
        await self._pass(scope, receive, send)
        return True

    async def _pass(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Not cacheable: still strip our targeted field and answer If-None-Match."""
        facts = self._scan(scope["headers"])
        recorder = ResponseRecorder(self, "", scope, facts, self._compressing(send, facts), None,
                             storing=False)
        await self.app(scope, receive, recorder.send)
        await recorder.finish()

    def _known_uncacheable(self, key: str) -> bool:
        until = self._uncacheable.get(key)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self._uncacheable[key]
        return False

    def _remember_uncacheable(self, key: str) -> None:
        if len(self._uncacheable) >= 10_000:
            self._uncacheable.clear()
        self._uncacheable[key] = self.clock() + self.uncacheable_memory

    def _compressing(self, send: Send, facts: RequestFacts) -> Send:
        """Responses the cache does not hold are compressed on the way out, like
        CompressionMiddleware would; stored ones arrive precompressed and pass through."""
        if self.compressor is None or not facts.accept_encoding:
            return send
        encoding = self.compressor.negotiate(facts.accept_encoding)
        if encoding is None:
            return send
        return CompressingSend(self.compressor, encoding, send)

    def _refresh_in_background(self, key: str, scope: Scope, vary: list[str],
                               guarded: bool = False) -> None:
        if key in self._refreshing:
            return
        self._refreshing.add(key)
        # The refresh fills a shared entry: it carries no validators, and no credentials
        # unless the entry varies on them, so one user's session never shapes it. A
        # guarded entry is the exception: its body is the same for every caller the guard
        # admits, the origin needs this (admitted) caller's credential to produce it, and
        # the guard is asked again before the refreshed copy is stored.
        dropped = {b"if-none-match", b"if-modified-since"}
        if not guarded:
            dropped |= {b"authorization", b"cookie"}
        dropped -= {name.encode() for name in vary}
        refresh_scope = {**scope, "method": "GET",  # a stale HEAD refreshes the GET entry
                         "headers": [(k, v) for k, v in scope["headers"] if k not in dropped]}
        task = asyncio.get_running_loop().create_task(self._refresh(key, refresh_scope))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, key: str, scope: Scope) -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(message: Message) -> None:
            return None

        try:
            facts = self._scan(scope["headers"])
            recorder = ResponseRecorder(self, key, scope, facts, discard, None)
            await self.app(scope, receive, recorder.send)
            await recorder.finish()
        except Exception:
            logger.warning("background refresh of %s failed", key, exc_info=True)
        finally:
            self._refreshing.discard(key)

    async def drain(self) -> None:
        """Wait for the background refreshes started so far (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def prepare(
        self, key: str, facts: RequestFacts, status: int, headers: list[tuple[bytes, bytes]],
        body: bytes, decision: StorageDecision, route: str | None = None,
        guard: tuple[str, dict[str, Any]] | None = None,
    ) -> tuple[bytes, dict[str, bytes], dict[str, Any]]:
        """The ETag, the precompressed bodies, and the cache items for one response.

        Kept apart from `persist` so the client gets its response before the write.
        `route` is the template the router matched, served back with every hit; `guard`
        (id, path parameters) is checked before every hit of a guarded entry.
        """
        etag = decision.etag or entry_etag(body)
        kept = [(k.lower(), v) for k, v in headers
                if k.lower() not in HOP_HEADERS and k.lower() != b"etag"]
        encodings: dict[str, bytes] = {}
        compressor = self.compressor
        if (compressor is not None and not decision.content_encoding
                and len(body) >= compressor.minimum_size
                and compressor.compressible(decision.content_type)):
            if len(body) >= _COMPRESS_IN_THREAD:
                # Large bodies: three codecs would hold the event loop for milliseconds.
                encodings = await asyncio.to_thread(_compress_all, compressor, body)
            else:
                encodings = _compress_all(compressor, body)
            add_vary(kept, b"Accept-Encoding")
        vary = tuple(name for name in decision.vary
                     if not (encodings and name == "accept-encoding"))
        identity = [*kept, (b"content-length", b"%d" % len(body)), (b"etag", etag)]
        weak = weaken_etag(etag)
        encoded_headers = {
            name: [*kept, (b"content-encoding", name.encode()),
                   (b"content-length", b"%d" % len(encoded)), (b"etag", weak)]
            for name, encoded in encodings.items()
        }
        value = {"s": status, "h": kept, "b": body, "t": etag, "c": encodings,
                 "i": identity, "z": encoded_headers,
                 "w": decision.swr, "e": decision.stale_if_error, "n": list(vary), "r": route}
        if guard is not None:
            value["g"], value["p"] = guard
        if vary:
            items = {key: {"v": list(vary)},
                     f"{key}|{variant_suffix(vary, facts.headers)}": value}
        else:
            items = {key: value}
        return etag, encodings, items

    async def persist(self, items: dict[str, Any], decision: StorageDecision) -> None:
        """Write the prepared items in one round trip; a failure is counted, not raised."""
        try:
            await self.cache.set_many(items, ttl=decision.ttl,
                                      swr=max(decision.swr, decision.stale_if_error),
                                      tags=decision.tags)
            self.counters["stored"] += 1
        except Exception as error:
            self.counters["errors"] += 1
            logger.warning("could not store %s in the response cache: %r", next(iter(items)),
                           error)


_COMPRESS_IN_THREAD = 64 * 1024


def _compress_all(compressor: Compressor, body: bytes) -> dict[str, bytes]:
    return {name: compressor.compress(body, name) for name in compressor.encodings}
