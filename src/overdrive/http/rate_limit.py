"""Rate limiting middleware: 429 with `Retry-After`, and the IETF `RateLimit` and
`RateLimit-Policy` headers (draft-ietf-httpapi-ratelimit-headers) on every response.

The client is the peer address by default, read through `X-Forwarded-For` only when the
peer is a trusted proxy; `key=` takes any callable (API key, user id). Per-route limits
are path prefixes (longest wins); `limit_for=` returns a per-request limit (dynamic
per-user plans). Shadow mode counts what would have been refused without refusing.
When Redis fails the request is let through by default (`fail_open=True`) and counted.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

from overdrive.http.rate_limiter import (
    MemoryRateLimiter,
    Rate,
    RateLimiter,
    RateLimitResult,
    RedisRateLimiter,
)
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ClientAddress", "RateLimitMiddleware"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """The client's IP: the peer, or the right-most untrusted `X-Forwarded-For` hop."""

    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies
        )

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def __call__(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self.trusted or not self._is_trusted(peer):
            return str(peer)
        forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for")
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else str(peer)


class RateLimitMiddleware:
    """Refuses clients over their limit.

    ```python
    app.add_middleware(RateLimitMiddleware, limit="100/minute", redis="redis://127.0.0.1:6379/0",
                       overrides={"/login": "5/minute"}, trusted_proxies=["10.0.0.0/8"])
    ```
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: str | Rate = "100/minute",
        redis: str | Any | None = None,
        limiter: RateLimiter | None = None,
        key: Callable[[Scope], str] | None = None,
        overrides: Mapping[str, str | Rate] | None = None,
        limit_for: Callable[[Scope], str | Rate | None] | None = None,
        trusted_proxies: Iterable[str] = (),
        shadow: bool = False,
        fail_open: bool = True,
        prefix: str = "overdrive:rl",
        policy_name: str = "default",
    ) -> None:
        self.app = app
        self.rate = Rate.parse(limit)
        self._owned_client: Any = None
        if limiter is None:
            if redis is None:
                limiter = MemoryRateLimiter()
            else:
                client = redis
                if isinstance(redis, str):
                    client = self._owned_client = redis_client_from_url(redis)
                limiter = RedisRateLimiter(client, prefix=prefix)
        self.limiter = limiter
        self.key = key or ClientAddress(trusted_proxies)
        self.overrides = sorted(
            ((path, Rate.parse(rate)) for path, rate in (overrides or {}).items()),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self.limit_for = limit_for
        self.shadow = shadow
        self.fail_open = fail_open
        self.policy_name = policy_name
        self._parsed: dict[str | Rate, Rate] = {}
        self.stats = {"allowed": 0, "refused": 0, "shadow_refused": 0, "backend_errors": 0}

    async def close(self) -> None:
        """Close the Redis client this middleware made from a URL (not one passed in)."""
        if self._owned_client is not None:
            await self._owned_client.aclose()
            self._owned_client = None

    def _rate_for(self, scope: Scope) -> Rate:
        if self.limit_for is not None:
            dynamic = self.limit_for(scope)
            if dynamic is not None:
                rate = self._parsed.get(dynamic)
                if rate is None:
                    rate = self._parsed[dynamic] = Rate.parse(dynamic)
                return rate
        path: str = scope["path"]
        for prefix, rate in self.overrides:
            if path.startswith(prefix):
                return rate
        return self.rate

    def _headers(self, rate: Rate, result: RateLimitResult) -> list[tuple[bytes, bytes]]:
        name = self.policy_name
        return [
            (b"ratelimit-policy",
             f'"{name}";q={rate.limit};w={math.ceil(rate.period)}'.encode()),
            (b"ratelimit",
             f'"{name}";r={result.remaining};t={math.ceil(result.reset)}'.encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rate = self._rate_for(scope)
        try:
            result = await self.limiter.hit(self.key(scope), rate)
        except (RedisError, OSError, TimeoutError):
            self.stats["backend_errors"] += 1
            if self.fail_open:
                await self.app(scope, receive, send)
                return
            await _refuse(send, 503, [(b"retry-after", b"1")])
            return
        extra = self._headers(rate, result)
        if not result.allowed:
            if not self.shadow:
                self.stats["refused"] += 1
                retry = (b"retry-after", str(max(1, math.ceil(result.retry_after))).encode())
                await _refuse(send, 429, [*extra, retry])
                return
            self.stats["shadow_refused"] += 1
        else:
            self.stats["allowed"] += 1

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def redis_client_from_url(url: str) -> Any:
    """An asyncio Redis client with short timeouts: a slow Redis must not stall requests."""
    return redis.asyncio.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


async def _refuse(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    body = b"Too Many Requests" if status == 429 else b"Service Unavailable"
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]})
    await send({"type": "http.response.body", "body": body})
