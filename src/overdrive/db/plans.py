"""Plan capture for slow statements, on a separate connection, off the request's path.

Under an `AsyncEngine` the `EXPLAIN` runs in an asyncio task scheduled from the statement
hook; under a sync engine, in one worker thread fed by a small bounded queue (a full
queue drops the plan, it never blocks the caller). Both borrow a connection from the
engine's own pool and mark their context as internal so their `EXPLAIN`s are not counted
as application statements.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import queue
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from overdrive.db.slowlog import SlowQuery, redact_plan

__all__ = ["PlanCapture", "explain_prefix", "is_explainable", "read_plan"]

logger = logging.getLogger("overdrive.db")

EXPLAINABLE = ("select", "with", "insert", "update", "delete")
TIMEOUT_SECONDS = 10.0

# Set inside plan-capture work so the statement hooks ignore their own EXPLAINs.
internal_work: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "overdrive_db_internal", default=False
)


def is_explainable(statement: str) -> bool:
    head = statement.lstrip(" \t\n(").split(None, 1)
    return bool(head) and head[0].lower() in EXPLAINABLE


def explain_prefix(dialect: str) -> str:
    """`EXPLAIN` without ANALYZE: the statement is planned, never executed."""
    if dialect == "postgresql":
        return "EXPLAIN (FORMAT JSON) "
    if dialect == "sqlite":
        return "EXPLAIN QUERY PLAN "
    return "EXPLAIN "


def read_plan(dialect: str, rows: Sequence[Sequence[Any]]) -> Any:
    """The plan as JSON-ready data: Postgres' JSON document, SQLite's plan rows."""
    if dialect == "postgresql":
        document = rows[0][0]
        return json.loads(document) if isinstance(document, str | bytes) else document
    if dialect == "sqlite":
        return [{"id": row[0], "parent": row[1], "detail": row[3]} for row in rows]
    return [list(row) for row in rows]


class PlanCapture:
    """Fills `SlowQuery.plan` in the background for one engine."""

    def __init__(
        self, engine: Engine, async_engine: AsyncEngine | None, *, redact: bool = True
    ) -> None:
        self.engine = engine
        self.redact = redact
        self.async_engine = async_engine
        self.dialect = engine.dialect.name
        self.prefix = explain_prefix(self.dialect)
        self.tasks: set[asyncio.Task[None]] = set()
        self.queue: queue.Queue[tuple[SlowQuery, str, Any] | None] = queue.Queue(maxsize=16)
        self.worker: threading.Thread | None = None
        self.captured = 0
        self.failed = 0
        self.dropped = 0

    def submit(self, entry: SlowQuery, statement: str, parameters: Any) -> None:
        if self.async_engine is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._skip(entry, "no running event loop")
                return
            task = loop.create_task(self._capture_async(entry, statement, parameters))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        if self.worker is None:
            self.worker = threading.Thread(
                target=self._work, name="overdrive-db-plans", daemon=True
            )
            self.worker.start()
        try:
            self.queue.put_nowait((entry, statement, parameters))
        except queue.Full:
            self._skip(entry, "plan queue full")

    def _skip(self, entry: SlowQuery, reason: str) -> None:
        self.dropped += 1
        entry.plan_status = "skipped"
        entry.plan_error = reason

    def _done(self, entry: SlowQuery, rows: Sequence[Sequence[Any]]) -> None:
        plan = read_plan(self.dialect, rows)
        entry.plan = redact_plan(plan) if self.redact else plan
        entry.plan_status = "captured"
        self.captured += 1

    def _failed(self, entry: SlowQuery, error: BaseException) -> None:
        self.failed += 1
        entry.plan_status = "failed"
        entry.plan_error = f"{type(error).__name__}: {error}"
        logger.info("could not capture the plan of %r: %s", entry.shape, error)

    async def _capture_async(self, entry: SlowQuery, statement: str, parameters: Any) -> None:
        internal_work.set(True)
        assert self.async_engine is not None
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS), self.async_engine.connect() as conn:
                rows = await self._explain_async(conn, statement, parameters)
        except Exception as error:
            self._failed(entry, error)
        else:
            self._done(entry, rows)

    async def _explain_async(
        self, conn: AsyncConnection, statement: str, parameters: Any
    ) -> Sequence[Sequence[Any]]:
        result = await conn.exec_driver_sql(self.prefix + statement, parameters)
        rows = result.all()
        await conn.rollback()
        return rows

    def _explain_sync(
        self, conn: Connection, statement: str, parameters: Any
    ) -> Sequence[Sequence[Any]]:
        rows = conn.exec_driver_sql(self.prefix + statement, parameters).all()
        conn.rollback()
        return rows

    def _work(self) -> None:
        internal_work.set(True)
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                entry, statement, parameters = item
                try:
                    with self.engine.connect() as conn:
                        rows = self._explain_sync(conn, statement, parameters)
                except Exception as error:
                    self._failed(entry, error)
                else:
                    self._done(entry, rows)
            finally:
                self.queue.task_done()

    async def drain(self) -> None:
        """Wait for every plan in flight (tests and shutdown)."""
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
        if self.worker is not None:
            await asyncio.to_thread(self.queue.join)

    def wait(self) -> None:
        """Wait for the sync worker's queue to empty (sync tests and shutdown)."""
        if self.worker is not None:
            self.queue.join()

    def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.worker is not None:
            self.queue.put(None)
            self.worker.join(timeout=5)
            self.worker = None
