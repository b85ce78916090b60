from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from overdrive import Cache
from overdrive.types import ASGIApp, Message, Receive, Scope, Send


class FakeClock:
    """Wall-clock time that only moves when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Origin:
    """A bare ASGI application whose response a test sets, counting how often it runs."""

    def __init__(self) -> None:
        self.calls = 0
        self.status = 200
        self.headers: dict[str, str] = {
            "content-type": "application/json",
            "cache-control": "public, s-maxage=60",
        }
        self.extra_headers: list[tuple[str, str]] = []
        self.body: bytes | Callable[[Scope], bytes] = b'{"hello": "world"}'
        self.error: Exception | None = None
        self.delay = 0.0
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.calls += 1
        self.scopes.append(scope)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        body = self.body(scope) if callable(self.body) else self.body
        headers = [(k.encode(), v.encode()) for k, v in self.headers.items()]
        headers += [(k.encode(), v.encode()) for k, v in self.extra_headers]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Receiver:
    """Records each request; fails the first `failures` of them (503 unless told)."""

    def __init__(self, failures: int = 0, delay: float = 0.0, failure_status: int = 503) -> None:
        self.requests: list[dict[str, Any]] = []
        self.failures = failures
        self.delay = delay
        self.failure_status = failure_status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.delay:
            await asyncio.sleep(self.delay)
        self.requests.append({
            "method": scope["method"], "path": scope["path"],
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "json": json.loads(body) if body else None,
            "at": time.monotonic(),
        })
        status = self.failure_status if len(self.requests) <= self.failures else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def receiver_client(receiver: Receiver) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def origin() -> Origin:
    return Origin()


@pytest.fixture
async def memory_cache(namespace: str, clock: FakeClock) -> AsyncIterator[Cache]:
    cache = Cache(namespace=namespace, clock=clock)
    yield cache
    await cache.close()


def client_for(app: ASGIApp | Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def redis_caches(redis_url: str, namespace: str) -> AsyncIterator[Callable[..., Cache]]:
    """Caches on the shared Redis under this test's namespace, closed afterwards."""
    made: list[Cache] = []

    def make(**options: Any) -> Cache:
        cache = Cache(redis_url, namespace=namespace, **options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


async def asgi_get(app: ASGIApp, path: str = "/", *headers: tuple[bytes, bytes]) -> list[Message]:
    """The messages `app` sends for one GET, called as a server calls it: for responses an
    HTTP client would not show as they were sent (pathsend, a start with no body)."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"",
             "headers": [(b"host", b"test"), *headers]}
    await app(scope, receive, send)
    return sent
