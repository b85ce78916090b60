"""Cache-poisoning probes: request headers the key ignores never change a stored body."""

from __future__ import annotations

import pytest

from overdrive import Cache, ResponseCacheMiddleware
from overdrive.types import Scope
from tests.http.conftest import FakeClock, Origin, client_for


def reflecting(scope: Scope) -> bytes:
    """An origin that builds links from override headers, as many frameworks do."""
    headers = dict(scope["headers"])
    host = headers.get(b"x-forwarded-host", headers.get(b"host", b""))
    path = headers.get(b"x-original-url", scope["path"].encode())
    return b"<a href='//" + host + path + b"'>"


@pytest.fixture
def middleware(origin: Origin, memory_cache: Cache, clock: FakeClock) -> ResponseCacheMiddleware:
    origin.body = reflecting
    return ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock)


@pytest.mark.parametrize(
    "probe",
    [{"x-forwarded-host": "evil.example"}, {"x-original-url": "/admin"},
     {"x-rewrite-url": "/admin"}, {"x-http-method-override": "DELETE"},
     {"x-forwarded-scheme": "http"}, {"x-host": "evil.example"}],
)
async def test_probe_headers_never_fill_the_cache(
    middleware: ResponseCacheMiddleware, origin: Origin, probe: dict[str, str]
) -> None:
    """A miss carrying an unkeyed override header is answered but not stored."""
    async with client_for(middleware) as client:
        poisoned = await client.get("/page", headers=probe)
        victim = await client.get("/page")
        victim_again = await client.get("/page")
    assert victim.content == b"<a href='//test/page'>"
    assert victim.headers["x-cache"] == "MISS"
    assert victim_again.content == victim.content
    assert victim_again.headers["x-cache"] == "HIT"
    assert poisoned.headers["x-cache"] == "MISS"


async def test_probe_on_a_hit_gets_the_clean_copy(
    middleware: ResponseCacheMiddleware,
) -> None:
    """Once stored, a probing request is served the stored body; the app never runs."""
    async with client_for(middleware) as client:
        await client.get("/page")
        probed = await client.get("/page", headers={"x-forwarded-host": "evil.example"})
    assert probed.content == b"<a href='//test/page'>"


async def test_oversized_header_bypasses_the_cache(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """An oversized header (CPDoS) makes the request bypass lookup and storage."""
    origin.status = 400
    async with client_for(middleware) as client:
        attack = await client.get("/page", headers={"x-junk": "a" * 20_000})
        origin.status = 200
        normal = await client.get("/page")
    assert attack.status_code == 400
    assert attack.headers["x-cache"] == "BYPASS"
    assert normal.status_code == 200


async def test_oversized_header_cannot_store_a_200_either(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Even a successful response to an oversized request is not stored."""
    async with client_for(middleware) as client:
        await client.get("/page", headers={"x-junk": "a" * 20_000})
        response = await client.get("/page")
    assert response.headers["x-cache"] == "MISS"


async def test_duplicated_host_headers_bypass_the_cache(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Two Host headers are ambiguous: never looked up nor stored."""
    async with client_for(middleware) as client:
        await client.get("/page")
        response = await client.get(
            "/page", headers=[("host", "test"), ("host", "evil.example")]  # type: ignore[arg-type]
        )
    assert response.headers["x-cache"] == "BYPASS"
    assert origin.calls == 2


async def test_duplicated_varying_header_is_a_distinct_variant(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Two Accept-Language lines are keyed as their combined value, not as the first one."""
    origin.headers["vary"] = "Accept-Language"
    origin.body = lambda scope: b"|".join(v for k, v in scope["headers"]
                                          if k == b"accept-language")
    async with client_for(middleware) as client:
        await client.get("/page", headers={"accept-language": "en"})
        doubled = await client.get(
            "/page", headers=[("accept-language", "en"), ("accept-language", "evil")]  # type: ignore[arg-type]
        )
    assert doubled.content == b"en|evil"
    assert doubled.headers["x-cache"] == "MISS"
