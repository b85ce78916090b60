"""`Overdrive(app, observe=...)`: observability in the same line, outside the response cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from overdrive import Cache, Overdrive, cache_policy
from overdrive.http import ResponseCacheMiddleware
from overdrive.observe import Observability
from overdrive.observe.metrics import OverdriveMetrics
from overdrive.observe.red import RedMiddleware
from overdrive.observe.sketches import LatencyWindows
from overdrive.routes import ROUTE_SCOPE_KEY, UNMATCHED_ROUTE, route_template
from overdrive.slo import Objectives
from tests.http.conftest import client_for
from tests.observe.test_app import samples

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def requests_of(values: Samples, route: str, status: str = "200") -> float:
    key = ("overdrive_http_requests_total",
           (("method", "GET"), ("route", route), ("status", status)))
    return values.get(key, 0.0)


def cached_api(calls: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    @cache_policy(ttl=60)
    async def item(item_id: int) -> dict[str, int]:
        calls.append(f"item:{item_id}")
        return {"id": item_id}

    return app


@pytest.fixture
async def cache() -> AsyncIterator[Cache]:
    made = Cache(namespace="test-observe-overdrive")
    yield made
    await made.close()


@pytest.fixture
async def installed() -> AsyncIterator[Callable[..., Overdrive]]:
    """Builds Overdrives and closes their observability (tests run without a lifespan)."""
    made: list[Overdrive] = []

    def build(app: Any, **options: Any) -> Overdrive:
        od = Overdrive(app, **options)
        made.append(od)
        return od

    yield build
    for od in made:
        if od.observability is not None:
            await od.observability.aclose()


@pytest.mark.parametrize("placement", ["outermost", "middleware"])
async def test_one_line_gives_metrics_dashboard_and_health(
    installed: Callable[..., Overdrive], cache: Cache, placement: str
) -> None:
    """Hits and misses of a route count under its template; every observe path answers."""
    calls: list[str] = []
    app = cached_api(calls)
    od = installed(app, cache=cache, observe={"objectives": Objectives()}, placement=placement)
    assert isinstance(od.observability, Observability)
    async with client_for(app) as http:
        first = await http.get("/items/7")
        second = await http.get("/items/7")
        await http.get("/nowhere")
        metrics = await http.get("/metrics")
        dashboard = await http.get("/_overdrive")
        feed = await http.get("/_overdrive/feed.json")
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert calls == ["item:7"]
    values = samples(metrics.text)
    assert requests_of(values, "/items/{item_id}") == 2  # the hit too, same label
    assert requests_of(values, UNMATCHED_ROUTE, "404") == 1
    assert "x-cache" not in metrics.headers  # /metrics is answered before the cache
    assert dashboard.status_code == 200
    assert b"<html" in dashboard.content.lower()
    assert feed.status_code == 200
    assert "routes" in feed.text
    assert health.json() == {"status": "up"}
    assert ready.status_code == 200
    # The bridge reads this Overdrive's cache: its L1 lookups are metrics too.
    assert od.observability.bridge.cache is cache
    assert any(name == "overdrive_cache_requests_total" and ("tier", "l1") in labels
               for name, labels in values)


async def test_options_reach_observability(
    installed: Callable[..., Overdrive], cache: Cache
) -> None:
    """A dict holds Observability's options: a moved /metrics behind a token here."""
    app = cached_api([])
    installed(app, cache=cache, observe={"metrics_path": "/internal/metrics",
                                         "token": "a-long-enough-token",
                                         "objectives": Objectives()})
    async with client_for(app) as http:
        await http.get("/items/1")
        refused = await http.get("/internal/metrics")
        allowed = await http.get("/internal/metrics",
                                 headers={"authorization": "Bearer a-long-enough-token"})
        old_path = await http.get("/metrics")
    assert refused.status_code == 401
    assert requests_of(samples(allowed.text), "/items/{item_id}") == 1
    assert old_path.status_code == 404  # now an ordinary, unmatched application path


async def test_without_observe_nothing_is_installed(cache: Cache) -> None:
    app = cached_api([])
    od = Overdrive(app, cache=cache)
    assert od.observability is None
    async with client_for(app) as http:
        assert (await http.get("/metrics")).status_code == 404


async def test_query_insight_is_shared(
    installed: Callable[..., Overdrive], cache: Cache
) -> None:
    """`db=` feeds the dashboard and the statement metrics: one insight, not two."""
    engine = create_engine("sqlite://")
    app = FastAPI()

    @app.get("/count")
    async def count() -> dict[str, int]:
        with engine.connect() as connection:
            return {"n": connection.execute(text("select 1")).scalar_one()}

    od = installed(app, cache=cache, db=engine, observe={"objectives": Objectives()})
    assert od.observability is not None
    insight: Any = od.db  # the QueryInsight `db=` made of the engine
    assert insight is not None
    assert od.observability.bridge.insight is insight
    async with client_for(app) as http:
        assert (await http.get("/count")).json() == {"n": 1}
        values = samples((await http.get("/metrics")).text)
    assert values[("overdrive_db_statements_total", ())] >= 1
    assert values[("overdrive_db_statement_duration_seconds_count", ())] >= 1
    cast(Any, od.db).close()
    engine.dispose()


@pytest.mark.parametrize(("mount", "path"), [("/admin", "/admin"), ("/orgs/{org}", "/orgs/acme")])
async def test_cache_hits_keep_the_route_template_under_mounts(
    cache: Cache, mount: str, path: str,
) -> None:
    """RedMiddleware around the response cache alone: a hit, which never reaches the
    router, is labelled like the miss that stored it, mount prefix included."""

    @cache_policy(ttl=60)
    async def user(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["name"])

    inner = Starlette(routes=[Mount(mount, routes=[Route("/users/{name}", user)])])
    metrics = OverdriveMetrics()
    app = RedMiddleware(ResponseCacheMiddleware(inner, cache=cache), metrics.http,
                        LatencyWindows())
    async with client_for(app) as http:
        statuses = [(await http.get(f"{path}/users/ann")).headers["x-cache"] for _ in range(3)]
    assert statuses == ["MISS", "HIT", "HIT"]
    app.tally.flush()
    counted = {sample.labels["route"]: sample.value
               for family in metrics.registry.collect() for sample in family.samples
               if sample.name == "overdrive_http_requests_total"}
    assert counted == {f"{mount}/users/{{name}}": 3}
    assert set(app.tally.windows.routes(60)) == {f"{mount}/users/{{name}}"}  # the percentiles


def test_route_template_prefers_the_routers_route_over_a_carried_one() -> None:
    class Matched:
        path_format = "/items/{item_id}"

    assert route_template({ROUTE_SCOPE_KEY: "/cached/{id}"}) == "/cached/{id}"
    assert route_template({ROUTE_SCOPE_KEY: None}) == UNMATCHED_ROUTE
    assert route_template({"route": Matched(), ROUTE_SCOPE_KEY: "/cached/{id}"}) == (
        "/items/{item_id}")


async def test_lifespan_starts_and_stops_observability_and_reaches_the_app(
    cache: Cache,
) -> None:
    """Outermost, observability sees the lifespan first and still passes it on."""
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)
    od = Overdrive(app, cache=cache, observe={"objectives": Objectives()})
    assert od.observability is not None
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[str] = []
    for message in ("lifespan.startup", "lifespan.shutdown"):
        inbox.put_nowait({"type": message})

    async def receive() -> dict[str, Any]:
        message = await inbox.get()
        if message["type"] == "lifespan.shutdown":
            running.append(od.observability is not None and od.observability.started)
        return message

    async def send(message: MutableMapping[str, Any]) -> None:
        outbox.append(message["type"])

    running: list[bool] = []
    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert events == ["startup", "shutdown"]
    assert outbox == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert running == [True]  # background work ran between startup and shutdown
    assert not od.observability.started
    assert od.observability.tasks == []


async def test_the_caches_redis_and_namespace_elect_the_evaluator() -> None:
    """Without `redis_url=`, the evaluator lease lives in the cache's Redis, under the
    cache's namespace: two services sharing a Redis keep an evaluator each."""
    from overdrive.observe.redis_coordination import RedisLease

    class Tier:
        url = "redis://127.0.0.1:6379/0"

    class RedisBackedCache:
        namespace = "shop"
        _l2 = Tier()

        def stats(self) -> dict[str, int]:
            return {}

    od = Overdrive(FastAPI(), cache=RedisBackedCache(), observe={"objectives": Objectives()})
    assert od.observability is not None
    lease = od.observability.lease
    assert isinstance(lease, RedisLease)
    assert lease.key == "shop:observe:evaluator"
    await od.observability.redis.aclose()  # never connected: nothing was started
