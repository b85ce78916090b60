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

from overdrive.http.cache_control import parse_cache_control
from overdrive.http.compression import CompressingSend, Compressor, add_vary, weaken_etag
from overdrive.http.policy import OVERDRIVE_CACHE_CONTROL
from overdrive.http.stored_response import (
    HOP_HEADERS,
    StorageDecision,
    decide_storage,
    entry_etag,
    etag_matches,
    variant_suffix,
)
from overdrive.http.timing import TIMING_SCOPE_KEY, RequestTiming
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_UNKEYED_PROBE_HEADERS", "ResponseCacheMiddleware"]

logger = logging.getLogger("overdrive.http")

# Headers that make an origin build a different response while no cache keys on them
# (cache-poisoning probes): a request carrying one is answered but never fills the cache.
DEFAULT_UNKEYED_PROBE_HEADERS = frozenset(
    {
        "x-forwarded-host",
        "x-forwarded-server",
        "x-host",
        "x-original-url",
        "x-rewrite-url",
        "x-forwarded-scheme",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    }
)
_KEY_LIMIT = 900
_304_HEADERS = frozenset({b"cache-control", b"content-location", b"expires", b"vary"})


class EntryLike(Protocol):
    value: Any
    created_at: float
    fresh_until: float
    stale_until: float


class CacheLike(Protocol):
    """The part of `overdrive.Cache` the response cache uses."""

    async def get_entry(self, key: str) -> Any: ...

    async def set(
        self, key: str, value: Any, ttl: float = ..., swr: float = ..., tags: Any = ...
    ) -> None: ...


class _RequestFacts:
    """What one pass over the request headers tells the cache."""

    __slots__ = ("accept_encoding", "authorized", "bypass", "headers", "host",
                 "if_none_match", "no_store", "revalidate", "uncacheable_fill")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers
        self.host = b""
        self.accept_encoding = b""
        self.if_none_match = b""
        self.authorized = False
        self.bypass = False
        self.revalidate = False
        self.no_store = False
        self.uncacheable_fill = False


# What the header scan does with each request header it cares about.
_HOST, _ACCEPT_ENCODING, _IF_NONE_MATCH, _AUTHORIZATION, _CACHE_CONTROL, _PRAGMA, _PROBE = (
    range(7))


class ResponseCacheMiddleware:
    """Caches responses the application marks cacheable; answers hits before routing.

    ```python
    app.add_middleware(ResponseCacheMiddleware, cache=Cache("redis://127.0.0.1:6379/0"),
                       compressor=Compressor())
    ```
    With a `compressor` the cache also does the compression: stored bodies are compressed
    once per encoding when stored, and whatever it does not store is compressed on the way
    out, so no separate CompressionMiddleware is needed (nor wanted: it would wrap hits).
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
    ) -> None:
        self.app = app
        self.cache = cache
        self.prefix = f"{namespace}:rc:"
        self.status_header = status_header.lower().encode()
        self.compressor = compressor
        self.max_body_size = max_body_size
        self.max_header_size = max_header_size
        self.probe_headers = frozenset(name.lower().encode() for name in unkeyed_probe_headers)
        self.honour_request_no_cache = honour_request_no_cache
        self.clock = clock
        self.targeted_field = OVERDRIVE_CACHE_CONTROL.lower().encode()
        self._header_roles: dict[bytes, int] = {
            b"host": _HOST, b"accept-encoding": _ACCEPT_ENCODING,
            b"if-none-match": _IF_NONE_MATCH, b"authorization": _AUTHORIZATION,
            b"cache-control": _CACHE_CONTROL, b"pragma": _PRAGMA,
            **{name: _PROBE for name in self.probe_headers},
        }
        self._hit = (self.status_header, b"HIT")
        self._stale = (self.status_header, b"STALE")
        self._miss = (self.status_header, b"MISS")
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._query_memo: dict[bytes, str] = {}
        self._uncacheable: dict[str, float] = {}
        self.uncacheable_memory = uncacheable_memory
        self.counters = {"hit": 0, "stale": 0, "miss": 0, "bypass": 0, "stored": 0,
                         "coalesced": 0, "stale_if_error": 0}

    # -- lookup --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            if scope["type"] == "http":
                await self._pass(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        facts = self._facts(scope["headers"])
        if facts.bypass:
            self.counters["bypass"] += 1
            await self._pass(scope, receive, send)
            return
        timing: RequestTiming | None = scope.get(TIMING_SCOPE_KEY)
        started = self.clock() if timing is not None else 0.0
        key = self._key(scope, facts.host)
        entry = None if facts.revalidate else await self._lookup(key, facts)
        if entry is not None:
            now = self.clock()
            if now < entry.fresh_until:
                self.counters["hit"] += 1
                if timing is not None:
                    timing.cache_status, timing.cache_duration = "hit", self.clock() - started
                await self._serve(entry, facts, scope, send, now, self._hit)
                return
            if now < entry.fresh_until + entry.value["w"]:
                self.counters["stale"] += 1
                if timing is not None:
                    timing.cache_status, timing.cache_duration = "stale", self.clock() - started
                self._refresh_in_background(key, scope)
                await self._serve(entry, facts, scope, send, now, self._stale)
                return
        self.counters["miss"] += 1
        if timing is not None:
            timing.cache_status, timing.cache_duration = "miss", self.clock() - started
        stale = entry if entry is not None and entry.value["e"] else None
        if facts.revalidate and not facts.no_store:
            stale = await self._lookup(key, facts)
            stale = stale if stale is not None and stale.value["e"] else None
        await self._miss_coalesced(key, scope, receive, send, facts, stale, timing)

    def _facts(self, headers: list[tuple[bytes, bytes]]) -> _RequestFacts:
        facts = _RequestFacts(headers)
        roles = self._header_roles
        limit = self.max_header_size
        request_cache_control = pragma = None
        for name, value in headers:
            if len(value) > limit:
                facts.bypass = True
            role = roles.get(name)
            if role is None:
                continue
            if role == _HOST:
                if facts.host:
                    facts.bypass = True  # two Host headers: ambiguous, never cached
                facts.host = value.lower()
            elif role == _ACCEPT_ENCODING:
                facts.accept_encoding = (value if not facts.accept_encoding
                                         else facts.accept_encoding + b"," + value)
            elif role == _IF_NONE_MATCH:
                facts.if_none_match = (value if not facts.if_none_match
                                       else facts.if_none_match + b"," + value)
            elif role == _AUTHORIZATION:
                facts.authorized = True
            elif role == _CACHE_CONTROL:
                request_cache_control = (value if request_cache_control is None
                                         else request_cache_control + b"," + value)
            elif role == _PRAGMA:
                pragma = value
            else:
                facts.uncacheable_fill = True
        if not self.honour_request_no_cache:
            return facts
        if request_cache_control is not None:
            directives = parse_cache_control(request_cache_control.decode("latin-1"))
            facts.no_store = directives.no_store
            facts.revalidate = directives.no_cache or directives.max_age == 0 or facts.no_store
        elif pragma is not None and pragma.lower() == b"no-cache":
            facts.revalidate = True
        return facts

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

    async def _lookup(self, key: str, facts: _RequestFacts) -> Any:
        entry = await self.cache.get_entry(key)
        if entry is None:
            return None
        names = entry.value.get("v")
        if names is None:
            return entry
        return await self.cache.get_entry(f"{key}|{variant_suffix(names, facts.headers)}")

    async def _serve(
        self, entry: EntryLike, facts: _RequestFacts, scope: Scope, send: Send, now: float,
        status: tuple[bytes, bytes],
    ) -> None:
        # Header lists were built when the entry was stored: a hit only adds Age and status.
        value = entry.value
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
            kept = [(k, v) for k, v in value["h"] if k in _304_HEADERS]
            await send({"type": "http.response.start", "status": 304,
                        "headers": [*kept, (b"etag", etag), age, status]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": value["s"],
                    "headers": [*headers, age, status]})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})

    # -- miss ----------------------------------------------------------------------------

    async def _miss_coalesced(
        self, key: str, scope: Scope, receive: Receive, send: Send, facts: _RequestFacts,
        stale: Any, timing: RequestTiming | None,
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
            entry = await self._lookup(key, facts)
            if entry is not None and self.clock() < entry.fresh_until:
                await self._serve(entry, facts, scope, send, self.clock(), self._hit)
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
        self, key: str, scope: Scope, receive: Receive, send: Send, facts: _RequestFacts,
        stale: Any, timing: RequestTiming | None,
    ) -> None:
        recorder = _Recorder(self, key, scope, facts, self._compressing(send, facts), stale)
        started = self.clock()
        try:
            await self.app(scope, receive, recorder.send)
        except Exception:
            if stale is None or recorder.started:
                raise
            logger.warning("origin failed for %s: serving the stale copy", key, exc_info=True)
            recorder.use_stale = True
        if timing is not None:
            timing.app_duration = self.clock() - started
        if recorder.storing and recorder.decision is None and not recorder.use_stale:
            self._remember_uncacheable(key)
        if recorder.use_stale:
            self.counters["stale_if_error"] += 1
            if timing is not None:
                timing.cache_status = "stale"
            await self._serve(stale, facts, scope, send, self.clock(), self._stale)
            return
        await recorder.finish()

    async def _pass(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Not cacheable: still strip our targeted field and answer If-None-Match."""
        facts = self._facts(scope["headers"])
        recorder = _Recorder(self, "", scope, facts, self._compressing(send, facts), None,
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

    def _compressing(self, send: Send, facts: _RequestFacts) -> Send:
        """Responses the cache does not hold are compressed on the way out, like
        CompressionMiddleware would; stored ones arrive precompressed and pass through."""
        if self.compressor is None or not facts.accept_encoding:
            return send
        encoding = self.compressor.negotiate(facts.accept_encoding)
        if encoding is None:
            return send
        return CompressingSend(self.compressor, encoding, send)

    def _refresh_in_background(self, key: str, scope: Scope) -> None:
        if key in self._refreshing:
            return
        self._refreshing.add(key)
        refresh_scope = {**scope, "headers": [(k, v) for k, v in scope["headers"]
                                              if k not in (b"if-none-match", b"if-modified-since")]}
        task = asyncio.get_running_loop().create_task(self._refresh(key, refresh_scope))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, key: str, scope: Scope) -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(message: Message) -> None:
            return None

        try:
            facts = self._facts(scope["headers"])
            recorder = _Recorder(self, key, scope, facts, discard, None)
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

    async def store(self, key: str, facts: _RequestFacts, status: int,
                    headers: list[tuple[bytes, bytes]], body: bytes,
                    decision: StorageDecision) -> tuple[bytes, dict[str, bytes]]:
        """Store one response; returns its ETag and its precompressed bodies."""
        etag = decision.etag or entry_etag(body)
        kept = [(k.lower(), v) for k, v in headers
                if k.lower() not in HOP_HEADERS and k.lower() != b"etag"]
        encodings: dict[str, bytes] = {}
        compressor = self.compressor
        if (compressor is not None and not decision.content_encoding
                and len(body) >= compressor.minimum_size
                and compressor.compressible(decision.content_type)):
            encodings = {name: compressor.compress(body, name) for name in compressor.encodings}
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
                 "w": decision.swr, "e": decision.stale_if_error}
        keep = max(decision.swr, decision.stale_if_error)
        try:
            if vary:
                await self.cache.set(key, {"v": list(vary)}, ttl=decision.ttl, swr=keep,
                                     tags=decision.tags)
                key = f"{key}|{variant_suffix(vary, facts.headers)}"
            await self.cache.set(key, value, ttl=decision.ttl, swr=keep, tags=decision.tags)
            self.counters["stored"] += 1
        except Exception:
            logger.warning("could not store %s in the response cache", key, exc_info=True)
        return etag, encodings


class _Recorder:
    """Per-request: watches the application's response, passes it on, stores it if allowed."""

    def __init__(
        self, owner: ResponseCacheMiddleware, key: str, scope: Scope, facts: _RequestFacts,
        send: Send, stale: Any, *, storing: bool = True,
    ) -> None:
        self.owner = owner
        self.key = key
        self.scope = scope
        self.facts = facts
        self.downstream = send
        self.stale = stale
        self.storing = storing and scope["method"] == "GET" and not facts.no_store
        self.started = False
        self.use_stale = False
        self.buffering = False
        self.status = 200
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.decision: StorageDecision | None = None
        self.not_modified = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            if self.stale is not None and self.status >= 500:
                self.use_stale = True
                return
            owner = self.owner
            headers = list(message.get("headers", ()))
            if self.storing:
                decision = decide_storage(self.status, headers,
                                          request_authorized=self.facts.authorized,
                                          targeted_field=owner.targeted_field,
                                          now=owner.clock())
                if decision.store and not self.facts.uncacheable_fill:
                    self.decision = decision
            self.headers = [(k, v) for k, v in headers if k.lower() != owner.targeted_field]
            if self.decision is not None:
                self.buffering = True
                return
            self.headers.append(owner._miss if self.storing else (owner.status_header, b"BYPASS"))
            self.started = True
            if (self.facts.if_none_match and self.status == 200
                    and self.scope["method"] in ("GET", "HEAD")):
                etag = next((v for k, v in self.headers if k.lower() == b"etag"), None)
                if etag is not None and etag_matches(self.facts.if_none_match, etag):
                    self.not_modified = True
                    kept = [(k, v) for k, v in self.headers
                            if k.lower() in _304_HEADERS or k.lower() == b"etag"]
                    await self.downstream({**message, "status": 304, "headers": kept})
                    return
            await self.downstream({**message, "headers": self.headers})
            return
        if self.use_stale:
            return
        if kind != "http.response.body":
            await self.downstream(message)
            return
        if self.not_modified:
            if not message.get("more_body", False):
                await self.downstream({"type": "http.response.body", "body": b""})
            return
        if not self.buffering:
            await self.downstream(message)
            return
        body = message.get("body", b"")
        self.chunks.append(body)
        self.size += len(body)
        if message.get("more_body", False):
            if self.size > self.owner.max_body_size:
                await self._give_up_storing()
            return
        await self._complete()

    async def _give_up_storing(self) -> None:
        self.buffering = False
        self.decision = None
        self.started = True
        self.headers.append(self.owner._miss)
        await self.downstream({"type": "http.response.start", "status": self.status,
                               "headers": self.headers})
        for chunk in self.chunks:
            await self.downstream({"type": "http.response.body", "body": chunk,
                                   "more_body": True})
        self.chunks = []

    async def _complete(self) -> None:
        decision = self.decision
        assert decision is not None
        body = b"".join(self.chunks)
        self.chunks = []
        self.buffering = False
        owner = self.owner
        etag, encodings = await owner.store(self.key, self.facts, self.status, self.headers,
                                            body, decision)
        self.started = True
        headers = [(k, v) for k, v in self.headers
                   if k.lower() not in (b"content-length", b"etag")]
        if encodings:
            add_vary(headers, b"Accept-Encoding")
        encoding = None
        if encodings and self.facts.accept_encoding and owner.compressor is not None:
            encoding = owner.compressor.negotiate(self.facts.accept_encoding)
        if encoding is not None and encoding in encodings:
            body = encodings[encoding]
            etag = weaken_etag(etag)
            headers.append((b"content-encoding", encoding.encode()))
        if self.facts.if_none_match and etag_matches(self.facts.if_none_match, etag):
            kept = [(k, v) for k, v in headers if k.lower() in _304_HEADERS]
            kept += [(b"etag", etag), owner._miss]
            await self.downstream({"type": "http.response.start", "status": 304,
                                   "headers": kept})
            await self.downstream({"type": "http.response.body", "body": b""})
            return
        headers += [(b"content-length", str(len(body)).encode()), (b"etag", etag), owner._miss]
        await self.downstream({"type": "http.response.start", "status": self.status,
                               "headers": headers})
        await self.downstream({"type": "http.response.body", "body": body})

    async def finish(self) -> None:
        """Called after the application returned: nothing left to do unless it never
        completed a buffered body (a broken app), in which case nothing is stored."""
        if self.buffering and self.chunks:
            await self._give_up_storing()
            await self.downstream({"type": "http.response.body", "body": b""})
