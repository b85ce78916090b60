"""Per request on a miss: watch the application's response, pass it on, store it if the
response allows.

A storable response sent in one body message (up to `max_body_size`) is held so it can
be stored and sent with its ETag and precompressed variants; anything else, streamed
bodies included, goes out message by message, untouched. A 5xx while a stale-if-error
copy exists is swallowed so the copy is served.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overdrive.http.compression import add_vary, weaken_etag
from overdrive.http.guard import GUARD_SCOPE_KEY, GuardVerdict, check_guard
from overdrive.http.request_facts import RequestFacts
from overdrive.http.stored_response import (
    NOT_MODIFIED_HEADERS,
    StorageDecision,
    decide_storage,
    etag_matches,
)
from overdrive.routes import route_template
from overdrive.types import Message, Scope, Send

if TYPE_CHECKING:
    from overdrive.http.response_cache import ResponseCacheMiddleware

__all__ = ["ResponseRecorder"]


class ResponseRecorder:
    """Per-request: watches the application's response, passes it on, stores it if allowed."""

    def __init__(
        self, owner: ResponseCacheMiddleware, key: str, scope: Scope, facts: RequestFacts,
        send: Send, stale: Any, *, storing: bool = True,
    ) -> None:
        self.owner = owner
        self.key = key
        self.scope = scope
        self.root_path = scope.get("root_path", "")  # before routing: for route_template
        self.facts = facts
        self.downstream = send
        self.stale = stale
        self.storing = storing and scope["method"] == "GET" and not facts.no_store
        # Invalidations seen from here on make this response too old to store.
        self.generation = owner.invalidations.generation
        self.started = False
        self.use_stale = False
        self.buffering = False
        self.status = 200
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.decision: StorageDecision | None = None
        self.not_modified = False
        self.guard: tuple[str, dict[str, Any]] | None = None

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
                if (decision.store and not self.facts.uncacheable_fill
                        and (not decision.guarded or await self._guard_admits())):
                    self.decision = decision
            self.headers = [(k, v) for k, v in headers if k.lower() != owner.targeted_field]
            if self.decision is not None:
                self.buffering = True
                return
            self.headers.append(owner.miss_header if self.storing else owner.bypass_header)
            self.started = True
            if (self.facts.if_none_match and self.status == 200
                    and self.scope["method"] in ("GET", "HEAD")):
                etag = next((v for k, v in self.headers if k.lower() == b"etag"), None)
                if etag is not None and etag_matches(self.facts.if_none_match, etag):
                    self.not_modified = True
                    kept = [(k, v) for k, v in self.headers
                            if k.lower() in NOT_MODIFIED_HEADERS or k.lower() == b"etag"]
                    await self.downstream({**message, "status": 304, "headers": kept})
                    return
            await self.downstream({**message, "headers": self.headers})
            return
        if self.use_stale:
            return
        if kind != "http.response.body":
            if self.buffering:
                # A body sent another way (`http.response.pathsend`): not stored, and the
                # held start goes out first.
                self.buffering = False
                self.decision = None
                self.started = True
                self.headers.append(self.owner.miss_header)
                await self.downstream({"type": "http.response.start", "status": self.status,
                                       "headers": self.headers})
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
        if message.get("more_body", False) or len(body) > self.owner.max_body_size:
            # A streamed body (more than one message) is never held back to be stored:
            # every chunk leaves when the application sends it. Same for an oversized one.
            await self._give_up_storing(more_body=bool(message.get("more_body", False)))
            return
        await self._complete()

    async def _guard_admits(self) -> bool:
        """A guarded response is stored only when it is a 2xx, the policy put its guard
        on the scope (else it would become an unguarded shared copy), and the guard
        admits the request it was produced for."""
        marker = self.scope.get(GUARD_SCOPE_KEY)
        if not 200 <= self.status < 300 or not isinstance(marker, tuple) or len(marker) != 2:
            return False
        verdict = await check_guard(marker[0], self.scope, marker[1])
        if verdict != GuardVerdict.ADMITTED:
            self.owner.counters[verdict] += 1
            return False
        self.guard = marker
        return True

    async def _give_up_storing(self, *, more_body: bool = True) -> None:
        self.buffering = False
        self.decision = None
        self.started = True
        self.headers.append(self.owner.miss_header)
        await self.downstream({"type": "http.response.start", "status": self.status,
                               "headers": self.headers})
        for chunk in self.chunks:
            await self.downstream({"type": "http.response.body", "body": chunk,
                                   "more_body": more_body})
        self.chunks = []

    async def _complete(self) -> None:
        decision = self.decision
        assert decision is not None
        body = b"".join(self.chunks)
        self.chunks = []
        self.buffering = False
        owner = self.owner
        etag, encodings, items = await owner.prepare(
            self.key, self.facts, self.status, self.headers, body, decision,
            route=route_template(self.scope, self.root_path), guard=self.guard)
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
            kept = [(k, v) for k, v in headers if k.lower() in NOT_MODIFIED_HEADERS]
            kept += [(b"etag", etag), owner.miss_header]
            await self.downstream({"type": "http.response.start", "status": 304,
                                   "headers": kept})
            await self.downstream({"type": "http.response.body", "body": b""})
        else:
            headers += [(b"content-length", b"%d" % len(body)), (b"etag", etag),
                        owner.miss_header]
            await self.downstream({"type": "http.response.start", "status": self.status,
                                   "headers": headers})
            await self.downstream({"type": "http.response.body", "body": body})
        if owner.invalidations.since(self.generation, decision.tags):
            owner.counters["refused_stale_sets"] += 1
        else:
            await owner.persist(items, decision)

    async def finish(self) -> None:
        """Called after the application returned: nothing left to do unless it never
        completed a buffered body (a broken app), in which case nothing is stored."""
        if self.buffering:
            await self._give_up_storing()
            await self.downstream({"type": "http.response.body", "body": b""})
