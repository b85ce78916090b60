"""A real overdrive.Cache feeds the metrics and the dashboard through its stats()."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from overdrive import Cache
from overdrive.observe import CacheStatsSource, Observability
from overdrive.slo import Objectives


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture(params=["l1", "redis"])
async def cache(request: pytest.FixtureRequest, namespace: str) -> AsyncIterator[Cache]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        instance = Cache(url, namespace=namespace)
    else:
        instance = Cache()
    yield instance
    await instance.close()


async def test_real_cache_counters_become_tiered_metrics(cache: Cache) -> None:
    """Hits, misses and loader runs of a real Cache appear per tier; ratios match its own."""
    assert isinstance(cache, CacheStatsSource)

    async def item(request: Request) -> JSONResponse:
        item_id = int(request.path_params["item_id"])

        async def load() -> dict[str, int]:
            return {"id": item_id}

        return JSONResponse(await cache.get_or_set(f"item:{item_id}", load, ttl=60))

    app = Observability(Starlette(routes=[Route("/items/{item_id:int}", item)]), cache=cache,
                        objectives=Objectives())
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for item_id in [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]:
                assert (await http.get(f"/items/{item_id}")).status_code == 200
            metrics = values((await http.get("/metrics")).text)
            feed = (await http.get("/_overdrive/feed.json")).json()
    finally:
        await app.aclose()
    hit = ("overdrive_cache_requests_total", (("result", "hit"), ("tier", "l1")))
    miss = ("overdrive_cache_requests_total", (("result", "miss"), ("tier", "l1")))
    assert (metrics[hit], metrics[miss]) == (6, 4)
    assert metrics[("overdrive_cache_loader_runs_total", ())] == 4
    assert metrics[("overdrive_cache_bytes_used", (("tier", "l1"),))] > 0
    assert feed["cache"]["hit_ratio"]["overall"] == pytest.approx(cache.stats()["hit_ratio"])


async def test_real_query_insight_feeds_metrics_and_the_dashboard(tmp_path: Any) -> None:
    """overdrive.db's insight: statements, N+1 and slow queries reach /metrics and the feed."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from overdrive.db import instrument
    from overdrive.observe import InsightSource

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    insight = instrument(engine, slow_query_ms=0.0, n_plus_one_threshold=3)
    assert isinstance(insight, InsightSource)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE tags (id INTEGER, item_id INTEGER)"))

    async def items(request: Request) -> JSONResponse:
        with insight.request_scope():
            async with engine.connect() as connection:
                for item_id in range(5):  # the N+1 the dashboard should report
                    await connection.execute(text("SELECT * FROM tags WHERE item_id = :i"),
                                             {"i": item_id})
        return JSONResponse({"ok": True})

    app = Observability(Starlette(routes=[Route("/items", items)]), insight=insight,
                        engines=[engine], objectives=Objectives())
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/items")).status_code == 200
            await insight.drain()
            metrics = values((await http.get("/metrics")).text)
            feed = (await http.get("/_overdrive/feed.json")).json()
    finally:
        await app.aclose()
        insight.close()
        await engine.dispose()
    assert metrics[("overdrive_db_statements_total", ())] >= 5
    assert metrics[("overdrive_db_n_plus_one_detections_total", ())] >= 1
    assert metrics[("overdrive_db_statement_duration_seconds_count", ())] >= 5
    assert feed["db"]["n_plus_one_reports"]
    assert feed["db"]["slow_queries"]
    assert "tags" in json.dumps(feed["db"]["slow_queries"])


async def test_invalidation_fan_out_latency_becomes_a_gauge_in_seconds() -> None:
    """`invalidation_latency_p50_ms`/`_p99_ms` of the stats appear as seconds per percentile."""

    class Stats:
        def stats(self) -> dict[str, Any]:
            return {"invalidation_latency_p50_ms": 1.5, "invalidation_latency_p99_ms": 12.0}

    app = Observability(Starlette(), cache=Stats(), objectives=Objectives())
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            metrics = values((await http.get("/metrics")).text)
    finally:
        await app.aclose()
    name = "overdrive_cache_invalidation_latency_seconds"
    assert metrics[(name, (("percentile", "p50"),))] == pytest.approx(0.0015)
    assert metrics[(name, (("percentile", "p99"),))] == pytest.approx(0.012)
