"""A real overdrive.Cache feeds the metrics and the dashboard through its stats()."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
