"""Serving past freshness (RFC 9111 §4.2.4, RFC 5861) and request directives (§5.2.1)."""

from __future__ import annotations

import asyncio

import pytest

from overdrive import Cache, ResponseCacheMiddleware
from tests.http.conftest import FakeClock, Origin, client_for


@pytest.fixture
def middleware(origin: Origin, memory_cache: Cache, clock: FakeClock) -> ResponseCacheMiddleware:
    return ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock)


async def test_stale_while_revalidate_serves_stale_and_refreshes_once(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """Within stale-while-revalidate the stale copy is served and one refresh runs."""
    origin.headers["cache-control"] = "public, s-maxage=10, stale-while-revalidate=100"
    origin.body = b"v1"
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(20)
        origin.body = b"v2"
        stale = await asyncio.gather(*(client.get("/items") for _ in range(5)))
        await middleware.drain()
        fresh = await client.get("/items")
    assert {response.content for response in stale} == {b"v1"}
    assert {response.headers["x-cache"] for response in stale} == {"STALE"}
    assert fresh.content == b"v2"
    assert fresh.headers["x-cache"] == "HIT"
    assert origin.calls == 2


@pytest.mark.parametrize("failure", ["raise", "503"])
async def test_stale_if_error_serves_the_stale_copy_when_the_origin_fails(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock, failure: str
) -> None:
    """Origin raising or answering 5xx within stale-if-error: the stale copy is served."""
    origin.headers["cache-control"] = "public, s-maxage=10, stale-if-error=300"
    origin.body = b"good"
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(60)
        if failure == "raise":
            origin.error = RuntimeError("database down")
        else:
            origin.status, origin.body = 503, b"down"
        response = await client.get("/items")
    assert response.status_code == 200
    assert response.content == b"good"
    assert response.headers["x-cache"] == "STALE"


async def test_stale_if_error_window_ends(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """Past stale-if-error the failure reaches the client."""
    origin.headers["cache-control"] = "public, s-maxage=10, stale-if-error=30"
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(100)
        origin.status = 503
        response = await client.get("/items")
    assert response.status_code == 503


async def test_must_revalidate_forbids_serving_stale(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """must-revalidate turns off stale-while-revalidate and stale-if-error (§5.2.2.2)."""
    origin.headers["cache-control"] = (
        "public, s-maxage=10, must-revalidate, stale-while-revalidate=100, stale-if-error=100"
    )
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(20)
        origin.status = 500
        response = await client.get("/items")
    assert response.status_code == 500


@pytest.mark.parametrize("header", [("cache-control", "no-cache"), ("cache-control", "max-age=0"),
                                    ("pragma", "no-cache")])
async def test_request_no_cache_goes_to_the_origin_and_refreshes(
    middleware: ResponseCacheMiddleware, origin: Origin, header: tuple[str, str]
) -> None:
    """A request asking for revalidation reaches the origin; its answer is stored."""
    async with client_for(middleware) as client:
        await client.get("/items")
        origin.body = b"new"
        forced = await client.get("/items", headers=dict([header]))
        after = await client.get("/items")
    assert forced.content == b"new"
    assert after.content == b"new"
    assert after.headers["x-cache"] == "HIT"


async def test_request_no_store_is_not_stored(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """A request with no-store is answered by the origin and its response not kept."""
    async with client_for(middleware) as client:
        await client.get("/items", headers={"cache-control": "no-store"})
        response = await client.get("/items")
    assert response.headers["x-cache"] == "MISS"


async def test_background_refresh_carries_no_credentials(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """A stale hit by a logged-in user refreshes the shared entry without their credentials."""
    origin.headers["cache-control"] = "public, s-maxage=10, stale-while-revalidate=100"
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(20)
        await client.get("/items", headers={"authorization": "Bearer alice",
                                            "cookie": "session=alice"})
        await middleware.drain()
    refresh_headers = dict(origin.scopes[-1]["headers"])
    assert origin.calls == 2
    assert b"authorization" not in refresh_headers
    assert b"cookie" not in refresh_headers


async def test_stale_head_refreshes_the_get_entry(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """A HEAD served stale triggers a GET refresh that stores the new body."""
    origin.headers["cache-control"] = "public, s-maxage=10, stale-while-revalidate=100"
    origin.body = b"v1"
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(20)
        origin.body = b"v2"
        head = await client.head("/items")
        await middleware.drain()
        fresh = await client.get("/items")
    assert head.headers["x-cache"] == "STALE"
    assert origin.scopes[-1]["method"] == "GET"
    assert (fresh.content, fresh.headers["x-cache"]) == (b"v2", "HIT")


async def test_only_if_cached_answers_504_on_a_miss(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """only-if-cached never reaches the origin: a hit is served, a miss is 504 (§5.2.1.7)."""
    async with client_for(middleware) as client:
        missing = await client.get("/items", headers={"cache-control": "only-if-cached"})
        await client.get("/items")
        present = await client.get("/items", headers={"cache-control": "only-if-cached"})
    assert missing.status_code == 504
    assert present.headers["x-cache"] == "HIT"
    assert origin.calls == 1
