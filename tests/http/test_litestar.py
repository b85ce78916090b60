"""Overdrive in front of a Litestar application: served as `od` itself (Litestar has no
`add_middleware`), or listed in Litestar's own `middleware=`.

Litestar writes its own caching headers (`cache_control=`, `response_headers=`); the
response cache reads those, so nothing Litestar-specific is needed on our side.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath

from overdrive import Cache, Overdrive, ResponseCacheMiddleware
from tests.http.conftest import FakeClock, client_for


def board_app(calls: list[str], **options: Any) -> Litestar:
    @get("/boards/{board:str}", cache_control=CacheControlHeader(public=True, s_maxage=60),
         response_headers=[ResponseHeader(name="Surrogate-Key", value="boards")],
         sync_to_thread=False)
    def board(board: FromPath[str]) -> dict[str, str]:
        calls.append(board)
        return {"board": board, "version": str(len(calls))}

    @get("/private", cache_control=CacheControlHeader(private=True, max_age=60),
         sync_to_thread=False)
    def private() -> dict[str, int]:
        calls.append("private")
        return {"calls": len(calls)}

    return Litestar([board, private], **options)


async def test_overdrive_serves_a_litestar_app(memory_cache: Cache, clock: FakeClock) -> None:
    """Hits never reach the handler, carry ETag/Age/X-Cache/Server-Timing, answer 304,
    and od.invalidate drops them; a private response is never stored."""
    calls: list[str] = []
    od = Overdrive(board_app(calls), cache=memory_cache, clock=clock)
    async with client_for(od) as client:
        miss = await client.get("/boards/main")
        hit = await client.get("/boards/main")
        assert miss.headers["x-cache"] == "MISS"
        assert hit.headers["x-cache"] == "HIT"
        assert hit.json() == miss.json() == {"board": "main", "version": "1"}
        assert calls == ["main"]
        assert hit.headers["etag"] == miss.headers["etag"]
        assert hit.headers["age"] == "0"
        assert hit.headers["cache-control"] == miss.headers["cache-control"]
        assert 'desc="hit l1"' in hit.headers["server-timing"]
        not_modified = await client.get("/boards/main",
                                        headers={"if-none-match": hit.headers["etag"]})
        assert not_modified.status_code == 304
        await od.invalidate("boards")
        again = await client.get("/boards/main")
        assert again.headers["x-cache"] == "MISS"
        assert again.json()["version"] == "2"
        await client.get("/private")
        second = await client.get("/private")
        assert second.json() == {"calls": 4}
        assert second.headers["x-cache"] == "MISS"


async def test_response_cache_as_litestar_middleware(memory_cache: Cache, clock: FakeClock
                                                     ) -> None:
    """Listed in Litestar's `middleware=`, the response cache answers hits too."""
    calls: list[str] = []
    app = board_app(calls, middleware=[
        DefineMiddleware(ResponseCacheMiddleware, cache=memory_cache, clock=clock)])
    async with client_for(app) as client:
        first = await client.get("/boards/side")
        second = await client.get("/boards/side")
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.json() == {"board": "side", "version": "1"}
    assert calls == ["side"]
