"""One user's response never reaches another: the authorization conformance matrix.

Covers what fastapi-cache#103 (responses cached across users because the key ignores the
caller) and souin#863 (Authorization handling in a shared cache) get wrong, per
RFC 9111 §3.5: a shared cache stores a response to an authorised request only when the
response says `public`, `s-maxage` or `must-revalidate`, or when it varies on the
credential (per-user policy).
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from overdrive import Cache, ResponseCacheMiddleware, cache_policy
from overdrive.types import Scope
from tests.http.conftest import FakeClock, Origin, client_for


def whoami(scope: Scope) -> bytes:
    return dict(scope["headers"]).get(b"authorization", b"anonymous")


@pytest.fixture
def middleware(origin: Origin, memory_cache: Cache, clock: FakeClock) -> ResponseCacheMiddleware:
    origin.body = whoami
    return ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock)


@pytest.mark.parametrize("cache_control", ["max-age=60", "private, s-maxage=60",
                                           "no-store, public, s-maxage=60"])
async def test_authorised_responses_without_permission_are_not_shared(
    middleware: ResponseCacheMiddleware, origin: Origin, cache_control: str
) -> None:
    """Alice's response (max-age only, private or no-store) never reaches Bob or anyone."""
    origin.headers["cache-control"] = cache_control
    async with client_for(middleware) as client:
        alice = await client.get("/me", headers={"authorization": "Bearer alice"})
        bob = await client.get("/me", headers={"authorization": "Bearer bob"})
        anonymous = await client.get("/me")
    assert (alice.content, bob.content, anonymous.content) == (
        b"Bearer alice", b"Bearer bob", b"anonymous")
    assert origin.calls == 3


@pytest.mark.parametrize("cache_control", ["public, max-age=60", "s-maxage=60",
                                           "max-age=60, must-revalidate"])
async def test_authorised_responses_marked_shareable_are_stored(
    middleware: ResponseCacheMiddleware, origin: Origin, cache_control: str
) -> None:
    """public, s-maxage or must-revalidate let a shared cache store it (RFC 9111 §3.5)."""
    origin.headers["cache-control"] = cache_control
    origin.body = b"same for everyone"
    async with client_for(middleware) as client:
        await client.get("/news", headers={"authorization": "Bearer alice"})
        bob = await client.get("/news", headers={"authorization": "Bearer bob"})
    assert bob.headers["x-cache"] == "HIT"
    assert origin.calls == 1


async def test_vary_authorization_keeps_one_copy_per_credential(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Per-principal caching: each credential has its own entry; anonymous has another."""
    origin.headers["cache-control"] = "private, max-age=0"
    origin.headers["overdrive-cache-control"] = "s-maxage=60"
    origin.headers["vary"] = "Authorization"
    async with client_for(middleware) as client:
        alice = await client.get("/me", headers={"authorization": "Bearer alice"})
        bob = await client.get("/me", headers={"authorization": "Bearer bob"})
        anonymous = await client.get("/me")
        alice_again = await client.get("/me", headers={"authorization": "Bearer alice"})
        bob_again = await client.get("/me", headers={"authorization": "Bearer bob"})
    assert alice_again.content == b"Bearer alice"
    assert bob_again.content == b"Bearer bob"
    assert anonymous.content == b"anonymous"
    assert (alice.headers["x-cache"], bob.headers["x-cache"]) == ("MISS", "MISS")
    assert (alice_again.headers["x-cache"], bob_again.headers["x-cache"]) == ("HIT", "HIT")
    assert origin.calls == 3


async def test_credentials_never_appear_in_cache_keys(
    middleware: ResponseCacheMiddleware, origin: Origin, memory_cache: Cache
) -> None:
    """The per-principal key is a hash of the credential, not the credential."""
    origin.headers["vary"] = "Authorization"
    seen: list[str] = []
    original_set_many = memory_cache.set_many

    async def recording_set_many(mapping: dict[str, object], **options: object) -> None:
        seen.extend(mapping)
        await original_set_many(mapping, **options)  # type: ignore[arg-type]

    memory_cache.set_many = recording_set_many  # type: ignore[method-assign]
    async with client_for(middleware) as client:
        await client.get("/me", headers={"authorization": "Bearer s3cret-token"})
    assert seen
    assert not any("s3cret" in key for key in seen)


async def test_set_cookie_with_public_is_not_replayed(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """A login response (public but Set-Cookie) never hands Alice's session to Bob."""
    origin.headers["cache-control"] = "public, s-maxage=60"
    origin.extra_headers = [("set-cookie", "session=alice")]
    async with client_for(middleware) as client:
        await client.get("/login", headers={"authorization": "Basic YWxpY2U6eA=="})
        origin.extra_headers = [("set-cookie", "session=bob")]
        bob = await client.get("/login", headers={"authorization": "Basic Ym9iOng="})
    assert bob.headers["set-cookie"] == "session=bob"


async def test_vary_cookie_separates_sessions(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """A response varying on Cookie is stored per cookie value."""
    origin.headers["vary"] = "Cookie"
    origin.body = lambda scope: dict(scope["headers"]).get(b"cookie", b"none")
    async with client_for(middleware) as client:
        await client.get("/me", headers={"cookie": "session=alice"})
        bob = await client.get("/me", headers={"cookie": "session=bob"})
    assert bob.content == b"session=bob"


def per_user_app(calls: list[str]) -> Starlette:
    @cache_policy(ttl=60, per_user=True, tags=("user",))
    async def me(request: Request) -> JSONResponse:
        who = request.headers.get("authorization", "anonymous")
        calls.append(who)
        return JSONResponse({"user": who})

    @cache_policy(ttl=60)
    async def public(request: Request) -> JSONResponse:
        calls.append("public")
        return JSONResponse({"public": True})

    return Starlette(routes=[Route("/me", me), Route("/public", public)])


async def test_per_user_policy_end_to_end(memory_cache: Cache, clock: FakeClock) -> None:
    """cache_policy(per_user=True) caches per credential and tells CDNs not to store."""
    calls: list[str] = []
    app = ResponseCacheMiddleware(per_user_app(calls), cache=memory_cache, clock=clock)
    async with client_for(app) as client:
        alice = await client.get("/me", headers={"authorization": "Bearer alice"})
        bob = await client.get("/me", headers={"authorization": "Bearer bob"})
        alice_again = await client.get("/me", headers={"authorization": "Bearer alice"})
    assert alice.json() == {"user": "Bearer alice"}
    assert bob.json() == {"user": "Bearer bob"}
    assert alice_again.json() == {"user": "Bearer alice"}
    assert alice_again.headers["x-cache"] == "HIT"
    assert alice.headers["cache-control"].startswith("private")
    assert "cdn-cache-control" not in alice.headers
    assert calls == ["Bearer alice", "Bearer bob"]


async def test_public_policy_serves_authorised_callers_the_shared_copy(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """A route declared public (s-maxage) is one shared copy whoever asks."""
    calls: list[str] = []
    app = ResponseCacheMiddleware(per_user_app(calls), cache=memory_cache, clock=clock)
    async with client_for(app) as client:
        await client.get("/public", headers={"authorization": "Bearer alice"})
        bob = await client.get("/public", headers={"authorization": "Bearer bob"})
    assert bob.headers["x-cache"] == "HIT"
    assert calls == ["public"]
