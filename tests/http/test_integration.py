"""Overdrive on FastAPI: the whole stack in process, on a real uvicorn, and behind Varnish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from overdrive import (
    Cache,
    CacheUnavailableError,
    CompressionMiddleware,
    ConfigurationError,
    Overdrive,
    RateLimitMiddleware,
    ResponseCacheMiddleware,
    ServerTimingMiddleware,
    VarnishPurger,
    cache_policy,
)
from overdrive.types import Receive, Scope, Send
from tests.http.conftest import FakeClock, Origin, Receiver, client_for, receiver_client
from tests.http.live import uvicorn_server, varnish, varnishd_binary
from tests.servers import free_port, service_required


def feedback_app(calls: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/boards/{board}/feedback")
    @cache_policy(ttl=60, swr=300, stale_if_error=600, tags=("board:{board}",),
                  vary=("Accept-Language",))
    async def list_feedback(board: str, page: int = 1) -> dict[str, object]:
        calls.append(board)
        return {"board": board, "page": page, "items": ["x" * 40] * 40}

    @app.post("/boards/{board}/feedback")
    async def add_feedback(board: str) -> dict[str, bool]:
        calls.append(f"post:{board}")
        return {"ok": True}

    return app


async def test_overdrive_installs_the_stack_on_fastapi(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """Cache, compression, rate limit and Server-Timing all act on one FastAPI app."""
    calls: list[str] = []
    app = feedback_app(calls)
    od = Overdrive(app, cache=memory_cache, compress=True, rate_limit="5/minute", clock=clock)
    async with client_for(app) as client:
        first = await client.get("/boards/main/feedback", headers={"accept-encoding": "br"})
        second = await client.get("/boards/main/feedback", headers={"accept-encoding": "br"})
        await client.post("/boards/main/feedback")
        await od.invalidate("board:main")
        third = await client.get("/boards/main/feedback")
        codes = [(await client.get("/boards/other/feedback")).status_code for _ in range(3)]
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.headers["content-encoding"] == "br"
    assert second.json()["board"] == "main"
    assert "ratelimit" in second.headers
    assert "cache;" in second.headers["server-timing"]
    assert third.headers["x-cache"] == "MISS"
    assert codes == [200, 429, 429]  # 5/minute: four requests above, one left
    assert calls == ["main", "post:main", "main", "other"]
    assert od.cache is memory_cache


async def test_each_middleware_works_alone_with_add_middleware(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """add_middleware accepts every middleware on its own, in any combination."""

    @cache_policy(ttl=30)
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello " * 400)

    for middleware, options in [
        (ResponseCacheMiddleware, {"cache": memory_cache, "clock": clock}),
        (CompressionMiddleware, {}),
        (RateLimitMiddleware, {"limit": "100/minute"}),
        (ServerTimingMiddleware, {}),
    ]:
        app = Starlette(routes=[Route("/", hello)])
        app.add_middleware(middleware, **options)
        async with client_for(app) as client:
            response = await client.get("/", headers={"accept-encoding": "gzip"})
        assert response.status_code == 200
        assert response.text == "hello " * 400


async def test_overdrive_wraps_a_bare_asgi_app(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """An app without add_middleware (Litestar, raw ASGI) is served through `od` itself."""
    od = Overdrive(origin, cache=memory_cache, clock=clock)
    async with client_for(od) as client:
        await client.get("/")
        response = await client.get("/")
    assert response.headers["x-cache"] == "HIT"
    assert origin.calls == 1


async def test_serving_the_object_after_add_middleware_is_an_error(
    memory_cache: Cache,
) -> None:
    """Installed with add_middleware, `od` is not an ASGI app itself: clear error."""
    od = Overdrive(FastAPI(), cache=memory_cache, placement="middleware")
    async with client_for(od) as client:
        with pytest.raises(ConfigurationError):
            await client.get("/")


async def test_invalidate_reaches_a_second_process_through_redis(
    redis_caches: Callable[..., Cache]
) -> None:
    """Two workers share Redis: invalidating in one drops the page in the other's L1
    (fast mode: the other process applies it within the bus's propagation bound)."""
    calls: list[str] = []
    first_app, second_app = feedback_app(calls), feedback_app(calls)
    first = Overdrive(first_app, cache=redis_caches())
    Overdrive(second_app, cache=redis_caches())
    async with client_for(first_app) as one, client_for(second_app) as two:
        await one.get("/boards/main/feedback")
        hit = await two.get("/boards/main/feedback")
        await first.invalidate("board:main")
        for _ in range(200):
            after = await two.get("/boards/main/feedback")
            if after.headers["x-cache"] == "MISS":
                break
            await asyncio.sleep(0.01)
    assert hit.headers["x-cache"] == "HIT"
    assert after.headers["x-cache"] == "MISS"
    assert calls == ["main", "main"]


async def test_real_uvicorn_serves_hits_and_304s(memory_cache: Cache) -> None:
    """Over real HTTP: MISS then HIT with Age, and If-None-Match answered 304."""
    calls: list[str] = []
    app = feedback_app(calls)
    Overdrive(app, cache=memory_cache, compress=True)
    async with uvicorn_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        first = await client.get("/boards/main/feedback")
        second = await client.get("/boards/main/feedback")
        revalidated = await client.get("/boards/main/feedback",
                                       headers={"if-none-match": second.headers["etag"]})
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert "age" in second.headers
    assert second.headers["content-encoding"] == "zstd"
    assert revalidated.status_code == 304
    assert calls == ["main"]


@pytest.mark.slow
async def test_varnish_serves_the_page_and_invalidate_purges_it(memory_cache: Cache) -> None:
    """Behind real Varnish: the edge serves the cached page; od.invalidate purges it."""
    if varnishd_binary() is None:
        if service_required():
            pytest.fail("varnishd is not installed and CI=true: run scripts/system-packages")
        pytest.skip("varnishd is not installed (scripts/system-packages)")
    calls: list[str] = []
    app = feedback_app(calls)
    async with uvicorn_server(app) as origin_url:
        with varnish(int(origin_url.rsplit(":", 1)[1])) as edge_url:
            od = Overdrive(app, cache=memory_cache, cdn=VarnishPurger(edge_url,
                                                                      flush_interval=0.0))
            # Overdrive added its middleware after uvicorn started: Starlette builds the
            # stack on the first request, so it is in place for everything below.
            async with httpx.AsyncClient(base_url=edge_url) as client:
                first = await client.get("/boards/main/feedback")
                second = await client.get("/boards/main/feedback")
                other = await client.get("/boards/other/feedback")
                await od.invalidate("board:main")
                await od.cdn.flush()  # type: ignore[union-attr]
                third = await client.get("/boards/main/feedback")
                other_again = await client.get("/boards/other/feedback")
            await od.close()
    assert first.headers["x-edge-cache"] == "MISS"
    assert second.headers["x-edge-cache"] == "HIT"
    assert third.headers["x-edge-cache"] == "MISS"
    assert other_again.headers["x-edge-cache"] == "HIT"
    assert other.status_code == 200
    assert calls == ["main", "other", "main"]
    assert od.cdn.stats["purged_tags"] == 1  # type: ignore[union-attr]


async def test_middleware_placement_caches_too(memory_cache: Cache, clock: FakeClock) -> None:
    """placement="middleware" installs through add_middleware and serves hits."""
    calls: list[str] = []
    app = feedback_app(calls)
    Overdrive(app, cache=memory_cache, clock=clock, placement="middleware", compress=True)
    async with client_for(app) as client:
        await client.get("/boards/main/feedback")
        response = await client.get("/boards/main/feedback", headers={"accept-encoding": "gzip"})
    assert response.headers["x-cache"] == "HIT"
    assert response.headers["content-encoding"] == "gzip"
    assert calls == ["main"]


async def test_soft_invalidate_soft_purges_the_cdn_and_drops_our_copy(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """soft=True becomes a soft purge at the CDN; our own tiers never serve it as fresh."""
    receiver = Receiver()
    calls: list[str] = []
    app = feedback_app(calls)
    od = Overdrive(app, cache=memory_cache, clock=clock,
                   cdn=VarnishPurger("http://edge/", client=receiver_client(receiver),
                                     flush_interval=0.0))
    async with client_for(app) as client:
        await client.get("/boards/main/feedback")
        await od.invalidate("board:main", soft=True)
        response = await client.get("/boards/main/feedback")
    await od.close()
    assert response.headers["x-cache"] == "MISS"
    assert receiver.requests[0]["headers"]["xkey-softpurge"] == "board:main"


async def test_rate_limit_shares_the_caches_redis(
    redis_caches: Callable[..., Cache], namespace: str
) -> None:
    """With a Redis cache and no redis=, the limiter counts in that Redis."""
    app = feedback_app([])
    od = Overdrive(app, cache=redis_caches(), rate_limit="2/minute",
                   rate_limit_options={"prefix": namespace})
    async with client_for(app) as client:
        codes = [(await client.get("/boards/x/feedback")).status_code for _ in range(3)]
    limiter = od.middleware["RateLimitMiddleware"].limiter
    await od.close()
    assert codes == [200, 200, 429]
    assert type(limiter).__name__ == "RedisRateLimiter"


def test_installing_twice_is_refused(memory_cache: Cache) -> None:
    """A second Overdrive on the same app would wrap itself: ConfigurationError."""
    app = FastAPI()
    Overdrive(app, cache=memory_cache)
    with pytest.raises(ConfigurationError, match="already installed"):
        Overdrive(app, cache=memory_cache)


async def test_status_header_name_is_configurable(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """status_header renames X-Cache."""
    od = Overdrive(origin, cache=memory_cache, clock=clock, status_header="CDN-Origin-Cache")
    async with client_for(od) as client:
        await client.get("/")
        response = await client.get("/")
    assert response.headers["cdn-origin-cache"] == "HIT"
    assert "x-cache" not in response.headers


async def test_placement_is_validated(memory_cache: Cache) -> None:
    """An unknown placement is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        Overdrive(FastAPI(), cache=memory_cache, placement="inner")  # type: ignore[arg-type]


async def test_lifespan_reaches_the_framework(memory_cache: Cache) -> None:
    """Outermost placement passes lifespan events through to the app's own handlers."""
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)
    Overdrive(app, cache=memory_cache)
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return next(incoming)

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert events == ["startup", "shutdown"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_response_computed_across_an_invalidation_is_not_stored(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """Stale-set race: a read that began before invalidate() does not store its old body."""
    started, release = asyncio.Event(), asyncio.Event()
    versions = iter([b"old", b"new"])

    async def slow_origin(scope: Scope, receive: Receive, send: Send) -> None:
        body = next(versions)
        started.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"cache-control", b"public, s-maxage=60"), (b"surrogate-key", b"board:main")]})
        await send({"type": "http.response.body", "body": body})

    od = Overdrive(slow_origin, cache=memory_cache, clock=clock)
    async with client_for(od) as client:
        in_flight = asyncio.create_task(client.get("/"))
        await started.wait()
        await od.invalidate("board:main")      # the write committed meanwhile
        release.set()
        assert (await in_flight).content == b"old"
        after = await client.get("/")
        again = await client.get("/")
    assert after.content == b"new"
    assert after.headers["x-cache"] == "MISS"
    assert again.headers["x-cache"] == "HIT"
    assert od.middleware["ResponseCacheMiddleware"].counters["refused_stale_sets"] == 1


async def test_unrelated_invalidation_does_not_refuse_the_store(
    memory_cache: Cache, clock: FakeClock, origin: Origin
) -> None:
    """Only the response's own tags matter to the stale-set check."""
    origin.headers["surrogate-key"] = "board:main"
    origin.delay = 0.05
    od = Overdrive(origin, cache=memory_cache, clock=clock)
    async with client_for(od) as client:
        in_flight = asyncio.create_task(client.get("/"))
        await asyncio.sleep(0.01)
        await od.invalidate("board:other")
        await in_flight
        response = await client.get("/")
    assert response.headers["x-cache"] == "HIT"


def purge_times(receiver: Receiver) -> list[tuple[str, float]]:
    return [(request["headers"]["xkey-purge"], request["at"]) for request in receiver.requests]


@pytest.mark.parametrize("consistency", ["fast", "strict"])
async def test_the_cdn_is_purged_again_once_no_process_can_still_serve_the_old_copy(
    redis_caches: Callable[..., Cache], consistency: str
) -> None:
    """Fast mode returns before other processes dropped their L1 copies, and the CDN could
    refill from one of them: it is purged once more after the bus's lease. A strict
    invalidation returned after every process acknowledged it: one purge is enough."""
    receiver = Receiver()
    cache = redis_caches(consistency=consistency, heartbeat_interval=0.05, lease=0.4)
    await cache.start()
    od = Overdrive(feedback_app([]), cache=cache,
                   cdn=VarnishPurger("http://edge/", client=receiver_client(receiver),
                                     flush_interval=0.0))
    await od.invalidate("board:main")
    await od.close()
    purged = purge_times(receiver)
    if consistency == "strict":
        assert [tag for tag, _ in purged] == ["board:main"]
    else:
        assert [tag for tag, _ in purged] == ["board:main", "board:main"]
        assert purged[1][1] - purged[0][1] >= 0.39
    assert cache.coherence_window == 0.4


async def test_one_process_without_redis_is_purged_once(memory_cache: Cache) -> None:
    receiver = Receiver()
    od = Overdrive(feedback_app([]), cache=memory_cache,
                   cdn=VarnishPurger("http://edge/", client=receiver_client(receiver),
                                     flush_interval=0.0))
    await od.invalidate("board:main")
    await od.close()
    assert [tag for tag, _ in purge_times(receiver)] == ["board:main"]
    assert memory_cache.coherence_window == 0.0


async def test_a_strict_invalidation_that_fails_still_purges_the_cdn_twice() -> None:
    """Redis unreachable: the strict invalidation raises, and the CDN is purged anyway,
    now and after the lease (other processes may not have heard of it)."""
    receiver = Receiver()
    cache = Cache(f"redis://127.0.0.1:{free_port()}/0", consistency="strict", lease=0.3,
                  heartbeat_interval=0.05, l2_timeout=0.05)
    od = Overdrive(feedback_app([]), cache=cache,
                   cdn=VarnishPurger("http://edge/", client=receiver_client(receiver),
                                     flush_interval=0.0))
    try:
        with pytest.raises(CacheUnavailableError):
            await od.invalidate("board:main")
        await od.close()
    finally:
        await cache.close()
    assert [tag for tag, _ in purge_times(receiver)] == ["board:main", "board:main"]


async def test_an_engine_passed_to_overdrive_is_detached_by_close() -> None:
    """Overdrive(db=engine) makes the engine's QueryInsight and close() detaches it, so an
    app built again on the same engine (a factory, a test) can attach its own."""
    engine = create_engine("sqlite://")
    first = Overdrive(feedback_app([]), db=engine)
    with pytest.raises(ConfigurationError, match="already has query insight"):
        Overdrive(feedback_app([]), db=engine)
    await first.close()
    second = Overdrive(feedback_app([]), db=engine)
    await second.close()
    assert first.db is not second.db
    engine.dispose()
