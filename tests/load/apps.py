"""Small ASGI targets for the load tests, served by uvicorn in a child process.

`OVERDRIVE_TEST_DELAY_MS` makes every response that slow (the "slow" server). The app
exposes Overdrive's metric series at /metrics with known ratios per request: three L1
cache hits and one L2 miss (hit ratio 0.75) and two database statements.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

DELAY = float(os.environ.get("OVERDRIVE_TEST_DELAY_MS", "0")) / 1000
counters = {"requests": 0, "db": 0, "hit": 0, "miss": 0}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    if path == "/metrics":
        await respond(send, 200, metrics().encode(), b"text/plain; version=0.0.4")
        return
    counters["requests"] += 1
    counters["db"] += 2
    counters["hit"] += 3
    counters["miss"] += 1
    if DELAY:
        await asyncio.sleep(DELAY)
    if path.startswith("/status/"):
        await respond(send, int(path.rsplit("/", 1)[1]), b"status")
        return
    body = json.dumps({"path": path}).encode()
    await respond(send, 200, body, b"application/json")


async def respond(send: Any, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def metrics() -> str:
    return "\n".join(
        [
            "# HELP overdrive_http_requests_total Requests served.",
            "# TYPE overdrive_http_requests_total counter",
            'overdrive_http_requests_total{route="/items/{id}",status="200"} '
            + str(counters["requests"]),
            "# HELP overdrive_db_statements_total SQL statements run.",
            "# TYPE overdrive_db_statements_total counter",
            f"overdrive_db_statements_total {counters['db']}",
            "# HELP overdrive_cache_requests_total Cache lookups.",
            "# TYPE overdrive_cache_requests_total counter",
            f'overdrive_cache_requests_total{{tier="l1",result="hit"}} {counters["hit"]}',
            # As the tiered cache counts: a lookup L1 misses goes on to L2 (and misses there).
            f'overdrive_cache_requests_total{{tier="l1",result="miss"}} {counters["miss"]}',
            f'overdrive_cache_requests_total{{tier="l2",result="miss"}} {counters["miss"]}',
            "",
        ]
    )
