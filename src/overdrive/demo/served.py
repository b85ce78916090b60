"""The application the demo serves: the reference app, plus a count of its SQL statements.

`uvicorn --factory overdrive.demo.served:counted_app` builds the reference application
from the environment the demo sets (`create_app` with the mode, URLs, schema and cache
namespace) and wraps it in a pure ASGI counter: every HTTP request and every statement
the process sends to the database is counted, and `GET /__demo/counters` returns them.
The plain app exports no Prometheus metrics, so this is where its "DB queries per
request" comes from (the optimised app's come from its own `/metrics`).

The counter also tells how many of the cacheable reads (GETs the optimised app's response
cache looked up: `X-Cache` HIT, STALE or MISS) asked for a URL not asked before in this
process. No cache can answer those, so they bound the hit ratio the run can reach.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from overdrive.demo.drive import COUNTERS_PATH
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["COUNTERS_PATH", "StatementCounter", "counted_app"]


CACHE_STATUS = b"x-cache"
LOOKED_UP = {b"HIT", b"STALE", b"MISS"}


class StatementCounter:
    """Pure ASGI: counts requests, statements on every engine and first-time cacheable
    reads, and serves the counts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = 0
        self.statements = 0
        self.reads = 0
        self.first_reads = 0
        # One hash per distinct (path, query, credentials): a few thousand in a demo run.
        self._asked: set[int] = set()
        # The server process holds one application, so every Engine is the app's.
        event.listen(Engine, "before_cursor_execute", self._statement)

    def _statement(self, *_args: Any) -> None:
        self.statements += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == COUNTERS_PATH:
            body = json.dumps(
                {
                    "requests": self.requests,
                    "statements": self.statements,
                    "reads": self.reads,
                    "first_reads": self.first_reads,
                }
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})
            return
        self.requests += 1
        if scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        # The response cache keeps one copy per Authorization value: so does this tally.
        credentials = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        asked = hash((scope["path"], scope.get("query_string", b""), credentials))

        def tally(message: Message) -> Awaitable[None]:
            # A plain closure returning the server's awaitable: no coroutine per message.
            if message["type"] == "http.response.start":
                status = next((v for k, v in message["headers"] if k == CACHE_STATUS), None)
                if status in LOOKED_UP:
                    self.reads += 1
                    if asked not in self._asked:
                        self._asked.add(asked)
                        self.first_reads += 1
            return send(message)

        await self.app(scope, receive, tally)


def counted_app() -> StatementCounter:
    """The reference app from the environment the demo sets, in the run's cache namespace.

    A namespace per run keeps a shared Redis from serving one run's entries to the next
    (item ids repeat across runs), and from mixing with anything else stored there.
    """
    from examples.versioning import Settings, create_app

    environ = os.environ
    settings = Settings(
        db_schema=environ.get("OVERDRIVE_DB_SCHEMA") or None,
        cache_namespace=environ.get("OVERDRIVE_DEMO_NAMESPACE") or "versioning",
    )
    app = create_app(
        environ["OVERDRIVE_DATABASE_URL"],
        redis_url=environ.get("OVERDRIVE_REDIS_URL") or None,
        optimised=environ.get("OVERDRIVE_OPTIMISED") == "1",
        settings=settings,
    )
    return StatementCounter(app)
