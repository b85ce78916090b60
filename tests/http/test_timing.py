"""Server-Timing: total, app, cache, and db through the query-insight hook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from overdrive import Cache, ResponseCacheMiddleware, ServerTimingMiddleware
from overdrive.types import ASGIApp, Message, Receive, Scope, Send
from tests.http.conftest import FakeClock, Origin, client_for


def metrics(header: str) -> dict[str, str]:
    return {part.strip().split(";")[0]: part.strip() for part in header.split(",")}


async def test_every_response_has_total_and_app(origin: Origin) -> None:
    """Without a cache, total and app are reported."""
    async with client_for(ServerTimingMiddleware(origin)) as client:
        response = await client.get("/")
    assert set(metrics(response.headers["server-timing"])) == {"total", "app"}


async def test_cache_outcome_is_reported(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """A miss reports cache and app; a hit reports cache and no app time."""
    app = ServerTimingMiddleware(ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock))
    async with client_for(app) as client:
        miss = metrics((await client.get("/")).headers["server-timing"])
        hit = metrics((await client.get("/")).headers["server-timing"])
    assert 'desc="miss"' in miss["cache"]
    assert "app" in miss
    assert 'desc="hit l1"' in hit["cache"]
    assert "app" not in hit
    assert set(hit) == {"total", "cache"}


async def test_the_tier_that_answered_is_named(
    origin: Origin, redis_caches: Callable[..., Cache]
) -> None:
    """Server-Timing's cache metric names the tier: a second process, whose L1 is cold,
    answers from L2 first and from its own L1 afterwards."""
    filler = ServerTimingMiddleware(ResponseCacheMiddleware(origin, cache=redis_caches()))
    reader = ServerTimingMiddleware(ResponseCacheMiddleware(origin, cache=redis_caches()))
    async with client_for(filler) as client:
        assert 'desc="miss"' in (await client.get("/tiers")).headers["server-timing"]
    async with client_for(reader) as client:
        first = metrics((await client.get("/tiers")).headers["server-timing"])
        second = metrics((await client.get("/tiers")).headers["server-timing"])
    assert 'desc="hit l2"' in first["cache"]
    assert 'desc="hit l1"' in second["cache"]
    assert origin.calls == 1


async def test_a_layer_between_timing_and_cache_still_gets_the_header(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """A hit sends Server-Timing itself only when the timing layer's send reaches it
    directly; with a layer in between (here one adding a header) that layer still sees
    the response start, and Server-Timing is still written, tier included."""

    def adding_header(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            async def tagged(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-between", b"1")]
                await send(message)

            await app(scope, receive, tagged)

        return wrapped

    cache = ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock)
    async with client_for(ServerTimingMiddleware(adding_header(cache))) as client:
        await client.get("/")
        hit = await client.get("/")
    assert hit.headers["x-cache"] == "HIT"
    assert hit.headers["x-between"] == "1"
    assert 'desc="hit l1"' in metrics(hit.headers["server-timing"])["cache"]
    assert len(hit.headers.get_list("server-timing")) == 1


async def test_a_hit_with_if_none_match_is_timed(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """A 304 answered from the cache carries Server-Timing too (every response does)."""
    app = ServerTimingMiddleware(ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock))
    async with client_for(app) as client:
        etag = (await client.get("/")).headers["etag"]
        not_modified = await client.get("/", headers={"if-none-match": etag})
    assert not_modified.status_code == 304
    assert 'desc="hit l1"' in metrics(not_modified.headers["server-timing"])["cache"]


@dataclass
class CountingStats:
    count: int = 0
    duration_ms: float = 0.0


class RecordingInsight:
    """A QueryInsightHook that reports what the application told it it ran."""

    def __init__(self) -> None:
        self.current: CountingStats | None = None

    @contextmanager
    def request_scope(self) -> Iterator[CountingStats]:
        self.current = CountingStats()
        yield self.current


async def test_db_hook_adds_query_count_and_duration(origin: Origin) -> None:
    """With db=, Server-Timing carries db;dur=..;desc="N queries"."""
    insight = RecordingInsight()
    body = origin.body

    def run_queries(scope: object) -> bytes:
        assert insight.current is not None
        insight.current.count += 3
        insight.current.duration_ms += 12.5
        return body if isinstance(body, bytes) else b""

    origin.body = run_queries
    async with client_for(ServerTimingMiddleware(origin, db=insight)) as client:
        response = await client.get("/")
    assert metrics(response.headers["server-timing"])["db"] == 'db;dur=12.50;desc="3 queries"'


async def test_real_query_insight_reports_through_server_timing(tmp_path: Path) -> None:
    """Overdrive(db=instrument(engine)) adds the request's statement count to Server-Timing."""
    from fastapi import FastAPI
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from overdrive import Cache, Overdrive
    from overdrive.db import instrument

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'timing.db'}")
    insight = instrument(engine, capture_plans=False)
    app = FastAPI()

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with engine.connect() as connection:
            first = (await connection.execute(text("select 1"))).scalar_one()
            second = (await connection.execute(text("select 2"))).scalar_one()
        return {"sum": first + second}

    cache = Cache()
    Overdrive(app, cache=cache, db=insight)
    try:
        async with client_for(app) as client:
            response = await client.get("/count")
    finally:
        await cache.close()
        await engine.dispose()
    assert response.json() == {"sum": 3}
    assert 'db;dur=' in response.headers["server-timing"]
    assert 'desc="2 queries"' in response.headers["server-timing"]


async def test_an_engine_given_to_overdrive_is_instrumented_and_drives_invalidation(
    tmp_path: Path,
) -> None:
    """Overdrive(app, db=engine): query counts in Server-Timing and committed writes
    invalidating `table:pk` through od.invalidate."""
    from fastapi import FastAPI
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text
    from sqlalchemy.ext.asyncio import create_async_engine

    from overdrive import Cache, Overdrive
    from overdrive.db import QueryInsight

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'writes.db'}")
    metadata = MetaData()
    notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("t", String))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    app = FastAPI()

    @app.get("/one")
    async def one() -> dict[str, int]:
        async with engine.connect() as connection:
            return {"one": (await connection.execute(text("select 1"))).scalar_one()}

    cache = Cache()
    od = Overdrive(app, cache=cache, db=engine)
    try:
        assert isinstance(od.db, QueryInsight)
        await cache.set("note-page", "old", tags=("notes",))
        async with client_for(app) as client:
            response = await client.get("/one")
        assert 'desc="1 query"' in response.headers["server-timing"]
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(engine) as session, session.begin():
            await session.execute(insert(notes).values(id=1, t="hello"))
        for _ in range(50):
            if await cache.get("note-page") is None:
                break
            await asyncio.sleep(0.02)
        assert await cache.get("note-page") is None
    finally:
        await cache.close()
        await engine.dispose()


async def test_answered_formats_milliseconds_with_two_decimals() -> None:
    """The preformatted path (under 10 ms) and the general one write the same numbers."""
    from overdrive.http.timing import RequestTiming

    async def sink(message: Message) -> None:
        return None

    for started, cache_started, end, expected in (
        (0.0, 0.001, 0.00312, b'total;dur=3.12, cache;dur=2.12;desc="hit l1"'),
        (0.0, 0.0, 0.0, b'total;dur=0.00, cache;dur=0.00;desc="hit l1"'),
        (0.0, 0.0055, 0.0123, b'total;dur=12.30, cache;dur=6.80;desc="hit l1"'),
        (0.0, 1.0, 2.5, b'total;dur=2500.00, cache;dur=1500.00;desc="hit l1"'),
    ):
        readings = iter((started, end))
        timing = RequestTiming(sink, lambda readings=readings: next(readings))
        assert timing.answered(b"hit l1", cache_started) == (b"server-timing", expected)


async def test_the_cache_can_write_server_timing_itself(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """With server_timing= the cache alone puts one Server-Timing on every response:
    hits, misses, bypassed and non-GET requests."""
    import time

    app = ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock,
                                  server_timing=time.perf_counter)
    async with client_for(app) as client:
        miss = await client.get("/")
        hit = await client.get("/")
        post = await client.post("/")
        bypassed = await client.get("/", headers={"x-probe": "x" * 9000})
    for response in (miss, hit, post, bypassed):
        assert len(response.headers.get_list("server-timing")) == 1
    assert 'desc="miss"' in metrics(miss.headers["server-timing"])["cache"]
    assert 'desc="hit l1"' in metrics(hit.headers["server-timing"])["cache"]
    assert set(metrics(post.headers["server-timing"])) == {"total", "app"}
    assert bypassed.headers["x-cache"] == "BYPASS"


async def test_overdrive_writes_one_server_timing_with_or_without_a_rate_limit(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """Overdrive folds Server-Timing into the cache unless a layer sits between them;
    either way every response carries it once, a hit naming its tier."""
    from fastapi import FastAPI

    from overdrive import Overdrive, cache_policy

    for rate_limit in (None, "1000/minute"):
        app = FastAPI()

        @app.get("/items")
        @cache_policy(ttl=60)
        async def items() -> dict[str, int]:
            return {"n": 1}

        @app.post("/items")
        async def create() -> dict[str, int]:
            return {"n": 2}

        od = Overdrive(app, cache=memory_cache, clock=clock, rate_limit=rate_limit)
        assert ("ServerTimingMiddleware" in od.middleware) == (rate_limit is not None)
        async with client_for(app) as client:
            responses = [await client.get("/items"), await client.get("/items"),
                         await client.post("/items")]
        for response in responses:
            assert len(response.headers.get_list("server-timing")) == 1
        assert 'desc="hit l1"' in metrics(responses[1].headers["server-timing"])["cache"]
        await memory_cache.clear()


class ServerCycle:
    """What an ASGI server keeps per request: an object holding the scope whose bound
    method is the `send` the application gets (uvicorn's RequestResponseCycle)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.messages: list[Message] = []

    async def send(self, message: Message) -> None:
        self.messages.append(message)


async def _request_is_freed_without_the_cyclic_gc(app: ASGIApp) -> None:
    import gc
    import weakref

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    for _ in range(2):  # a miss, then a hit
        scope: Scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/",
                        "query_string": b"", "headers": [(b"host", b"test")],
                        "http_version": "1.1", "scheme": "http", "root_path": ""}
        cycle = ServerCycle(scope)
        await app(scope, receive, cycle.send)
        assert cycle.messages[0]["type"] == "http.response.start"
        freed = weakref.ref(cycle)
        gc.disable()
        try:
            del cycle, scope
            assert freed() is None, "the request's objects are left to the cyclic GC"
        finally:
            gc.enable()


async def test_timing_leaves_no_reference_cycle_when_the_cache_writes_it(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """The cache's own Server-Timing (no layer between) must not tie the server's
    per-request object into a cycle: under load such cycles made full collections stall
    responses by tens of milliseconds."""
    app = ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock,
                                  server_timing=clock)
    await _request_is_freed_without_the_cyclic_gc(app)


async def test_timing_leaves_no_reference_cycle_as_its_own_layer(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """Likewise with Server-Timing as the outer layer (rate limit or db hook present)."""
    app = ServerTimingMiddleware(ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock))
    await _request_is_freed_without_the_cyclic_gc(app)
