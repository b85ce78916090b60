"""The applications the HTTP benchmarks serve, each answering the same 1 KiB JSON body.

Run by uvicorn in its own process: `uvicorn benchmarks.http_apps:<name>`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from overdrive import Cache, Overdrive, cache_policy
from overdrive.types import Receive, Scope, Send

# 1 KiB of JSON, the same bytes for every contender.
PAYLOAD: dict[str, Any] = {"items": [{"id": index, "name": f"item-{index:04d}"}
                                     for index in range(30)], "pad": ""}
PAYLOAD["pad"] = "x" * (1024 - len(json.dumps(PAYLOAD, separators=(",", ":"))))
BODY = json.dumps(PAYLOAD, separators=(",", ":")).encode()
assert len(BODY) == 1024, len(BODY)


async def raw_hello(scope: Scope, receive: Receive, send: Send) -> None:
    """The limit: a bare ASGI callable sending a constant body, no framework, no cache."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]})
    await send({"type": "http.response.body", "body": BODY})


def _overdrive(compress: bool) -> FastAPI:
    app = FastAPI()
    Overdrive(app, cache=Cache(), compress=compress)

    @app.get("/items")
    @cache_policy(ttl=3600, tags=("items",))
    async def items() -> dict[str, Any]:
        return PAYLOAD

    return app


overdrive_cached = _overdrive(compress=False)
overdrive_compressed = _overdrive(compress=True)


def _fastapi_cache2() -> FastAPI:
    from fastapi_cache import FastAPICache
    from fastapi_cache.backends.inmemory import InMemoryBackend
    from fastapi_cache.decorator import cache

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        FastAPICache.init(InMemoryBackend(), prefix="bench")
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/items")
    @cache(expire=3600)
    async def items() -> dict[str, Any]:
        return PAYLOAD

    return app


fastapi_cache2_cached = _fastapi_cache2()
