"""Mounted the usual ways: FastAPI's add_middleware, and elected through real Redis."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from overdrive.observe import Observability
from overdrive.observe.rules import AlertRule
from overdrive.slo import Objectives


async def test_fastapi_add_middleware_labels_api_routes() -> None:
    """`app.add_middleware(Observability, ...)` measures FastAPI routes by their template."""
    api = FastAPI()

    @api.get("/contents/{content_id}/versions/{version}")
    async def version(content_id: int, version: int) -> dict[str, int]:
        return {"content_id": content_id, "version": version}

    api.add_middleware(Observability, objectives=Objectives(), metrics_path="/internal/metrics")
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for number in range(3):
            assert (await http.get(f"/contents/7/versions/{number}")).status_code == 200
        body = (await http.get("/internal/metrics")).text
    counts = {tuple(sorted(s.labels.items())): s.value
              for family in text_string_to_metric_families(body) for s in family.samples
              if s.name == "overdrive_http_requests_total"}
    route = "/contents/{content_id}/versions/{version}"
    assert counts == {(("method", "GET"), ("route", route), ("status", "200")): 3}


async def test_with_redis_one_instance_evaluates(redis_url: str, namespace: str) -> None:
    """Two instances on one Redis: the lease elects one; the other reads its published alerts."""
    rule = AlertRule("AnyTraffic", "request_rate", ">", 0.0, for_=0)
    instances = [Observability(FastAPI(), objectives=Objectives(), rules=[rule],
                               redis_url=redis_url, namespace=namespace) for _ in range(2)]
    try:
        first, second = instances
        first.windows.record("/x", 0.01)
        assert await first.evaluate_once()
        assert not await second.evaluate_once()
        alerts = await second.board.read()
        assert alerts is not None
        assert [a["name"] for a in alerts] == ["AnyTraffic"]
    finally:
        for instance in instances:
            await instance.aclose()
