"""The application the demo serves: the reference app, plus a count of its SQL statements.

`uvicorn --factory overdrive.demo.served:counted_app` builds the reference application
from the environment the demo sets (`create_app` with the mode, URLs, schema and cache
namespace) and wraps it in a pure ASGI counter: every HTTP request and every statement
the process sends to the database is counted, and `GET /__demo/counters` returns both.
Neither mode of the app exports Prometheus metrics, so this is where the table's
"DB queries per request" comes from — measured the same way in both modes.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from overdrive.demo.drive import COUNTERS_PATH
from overdrive.types import ASGIApp, Receive, Scope, Send

__all__ = ["COUNTERS_PATH", "StatementCounter", "counted_app"]


class StatementCounter:
    """Pure ASGI: counts requests, counts statements on every engine, serves the counts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests = 0
        self.statements = 0
        # The server process holds one application, so every Engine is the app's.
        event.listen(Engine, "before_cursor_execute", self._statement)

    def _statement(self, *_args: Any) -> None:
        self.statements += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == COUNTERS_PATH:
            body = json.dumps({"requests": self.requests, "statements": self.statements})
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
        await self.app(scope, receive, send)


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
