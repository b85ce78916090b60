"""A small app served by real uvicorn processes in the multi-process and browser tests."""

from __future__ import annotations

import asyncio
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from overdrive.observe import Observability
from overdrive.observe.rules import AlertRule
from overdrive.slo import Objectives, RouteObjective


class CountingCache:
    """Counts lookups the way overdrive.Cache.stats() reports them."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def lookup(self, key: int) -> None:
        if key % 5:
            self.hits += 1
        else:
            self.misses += 1

    def stats(self) -> dict[str, object]:
        return {"l1": {"hits": self.hits, "misses": self.misses, "bytes_used": 2048,
                       "bytes_max": 65536}, "loader_runs": self.misses}


def create() -> Observability:
    cache = CountingCache()

    async def item(request: Request) -> JSONResponse:
        item_id = int(request.path_params["item_id"])
        cache.lookup(item_id)
        if item_id % 7 == 0:
            await asyncio.sleep(0.12)  # the slow tail the dashboard should show
        status = 500 if item_id % 50 == 49 else 200
        return JSONResponse({"pid": os.getpid(), "id": item_id}, status_code=status)

    app = Starlette(routes=[Route("/items/{item_id:int}", item)])
    objectives = Objectives(latency_p95=0.1, routes=(RouteObjective("/items/{item_id}", p95=0.1),))
    # An alert that fires on any traffic, so the browser test has a firing alert to find.
    rules = [AlertRule("TrafficSeen", "request_rate", ">", 0.0, for_=0, severity="info",
                       summary="requests are arriving")]
    return Observability(app, cache=cache, objectives=objectives, rules=rules,
                         evaluate_every=float(os.environ.get("OD_EVALUATE_EVERY", "0.5")))
