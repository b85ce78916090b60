"""Writes drive invalidation: the rows a transaction wrote become tags, after COMMIT.

Session events collect, per transaction, the tables and primary keys that were inserted,
updated or deleted by flushes; bulk `insert`/`update`/`delete` statements (ORM or Core,
run in the session) invalidate their whole table, noted by the statement hook. After
the commit — never before, never on rollback — one batched call hands `table`,
`table:pk` and the user's own tags to the invalidator (the cache's `invalidate`).
Releasing a savepoint is not a commit; a rolled-back savepoint keeps its tags for the
outer commit: invalidating too much is safe, too little is not.

Under an `AsyncSession` the commit runs in SQLAlchemy's greenlet, so the async
invalidator is awaited right there and `await session.commit()` returns only once the
invalidation did. A failing invalidator is logged and counted; the commit stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine, ExecutionContext
from sqlalchemy.orm import Mapper, Session, SessionTransaction, UOWTransaction
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from overdrive.errors import ConfigurationError

__all__ = ["Invalidator", "TagMapping", "WriteInvalidation"]

logger = logging.getLogger("overdrive.db")

THREAD_TIMEOUT_SECONDS = 30.0

Invalidator = Callable[..., Awaitable[None] | None]
TagMapping = Callable[[Any], Iterable[str]]


def _pk_text(values: Iterable[Any]) -> str:
    return ",".join(str(value) for value in values)


class WriteInvalidation:
    """Listens to every `Session`, keeps the writes bound to `engine`, fires after commit."""

    def __init__(self, engine: Engine, invalidator: Invalidator | None) -> None:
        self.engine = engine
        self.invalidator = invalidator
        self.mappings: dict[type, list[TagMapping]] = {}
        self.key = f"overdrive.db.pending.{id(self)}"
        self.batches = 0
        self.tags_sent = 0
        self.failures = 0
        self.background: set[asyncio.Task[None]] = set()
        # The application's loop, where an async invalidator (and its Redis client) lives;
        # a sync Session committing in a worker thread hands the call back to it.
        self.loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self.loop = asyncio.get_running_loop()
        self.written_key = f"overdrive.db.written.{id(self)}"
        self.connections_key = f"overdrive.db.connections.{id(self)}"
        # No `do_orm_execute` listener: any listener there makes SQLAlchemy prepare every
        # ORM statement of every session twice. Bulk DML is seen at the cursor instead.
        self.listeners: list[tuple[str, Callable[..., Any]]] = [
            ("after_begin", self._after_begin),
            ("after_flush", self._after_flush),
            ("before_commit", self._before_commit),
            ("after_commit", self._after_commit),
            ("after_rollback", self._after_rollback),
        ]
        for name, listener in self.listeners:
            event.listen(Session, name, listener)

    def invalidate_on(self, model: Any, mapping: Any) -> None:
        """Add `mapping(obj)`'s tags whenever an instance of `model` (or a subclass) is written."""
        if not isinstance(model, type) or not callable(mapping):
            raise ConfigurationError("invalidate_on(Model, callable) expects a mapped class")
        self.mappings.setdefault(model, []).append(mapping)

    # -- collecting -------------------------------------------------------------------

    def _ours(self, session: Session, mapper: Mapper[Any] | None) -> bool:
        try:
            bind = session.get_bind(mapper=mapper)
        except Exception:
            return False
        if isinstance(bind, Connection):
            bind = bind.engine
        return bind is self.engine

    def _pending(self, session: Session) -> set[str]:
        pending: set[str] | None = session.info.get(self.key)
        if pending is None:
            pending = session.info[self.key] = set()
        return pending

    def _after_flush(self, session: Session, flush_context: UOWTransaction) -> None:
        written = [
            *session.new,
            *session.deleted,
            *(obj for obj in session.dirty if session.is_modified(obj)),
        ]
        for obj in written:
            mapper = sa_inspect(obj).mapper
            if not self._ours(session, mapper):
                continue
            tags = self._pending(session)
            key = _pk_text(mapper.primary_key_from_instance(obj))
            for table in mapper.tables:
                name = getattr(table, "name", None)
                if name:
                    # Table names are `quoted_name`, a str subclass; tags are plain str.
                    tags.add(str(name))
                    tags.add(f"{name}:{key}")
            tags.update(self._user_tags(obj))

    def _user_tags(self, obj: Any) -> list[str]:
        tags: list[str] = []
        for model, mappings in self.mappings.items():
            if not isinstance(obj, model):
                continue
            for mapping in mappings:
                try:
                    tags.extend(str(tag) for tag in mapping(obj))
                except Exception:
                    self.failures += 1
                    logger.exception("invalidate_on mapping for %s failed", model.__name__)
        return tags

    def note_write(self, context: ExecutionContext) -> None:
        """An INSERT/UPDATE/DELETE ran on our engine: remember its table on the connection.

        Called from the statement hook, so bulk `session.execute(update(Model))` and Core
        DML inside a session are seen without a per-statement session event. The session
        collects the tables at commit (`_before_commit`).
        """
        statement = getattr(getattr(context, "compiled", None), "statement", None)
        name = getattr(getattr(statement, "table", None), "name", None)
        if name:
            written: set[str] = context.root_connection.info.setdefault(self.written_key, set())
            written.add(str(name))

    def _after_begin(
        self, session: Session, transaction: SessionTransaction, connection: Connection
    ) -> None:
        if connection.engine is not self.engine:
            return
        connection.info.pop(self.written_key, None)  # left over from an earlier transaction
        session.info.setdefault(self.connections_key, []).append(connection)

    def _before_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return
        for connection in session.info.get(self.connections_key, ()):
            with contextlib.suppress(Exception):
                written = connection.info.pop(self.written_key, None)
                if written:
                    self._pending(session).update(written)

    # -- firing -----------------------------------------------------------------------

    # SQLAlchemy fires after_commit/after_rollback for SAVEPOINTs too, while the nested
    # transaction is still current: those are not the database's COMMIT or ROLLBACK.

    def _after_rollback(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a rolled-back savepoint: keep the outer transaction's tags
        session.info.pop(self.key, None)
        session.info.pop(self.connections_key, None)

    def _after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a released savepoint: nothing is committed yet
        session.info.pop(self.connections_key, None)
        tags = session.info.pop(self.key, None)
        if not tags or self.invalidator is None:
            return
        ordered = sorted(tags)
        self.batches += 1
        self.tags_sent += len(ordered)
        try:
            result = self.invalidator(*ordered)
            if inspect.isawaitable(result):
                self._await(result)
        except Exception:
            self.failures += 1
            logger.exception("invalidation after commit failed for %d tags", len(ordered))

    def _await(self, awaitable: Awaitable[None]) -> None:
        if in_greenlet():
            self.loop = asyncio.get_running_loop()
            await_only(awaitable)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self.loop is not None and self.loop.is_running():
                future = asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), self.loop)
                future.result(timeout=THREAD_TIMEOUT_SECONDS)
            else:
                asyncio.run(_as_coroutine(awaitable))
            return
        # A sync Session used inside a running loop: cannot block, so run it next.
        task = loop.create_task(_as_coroutine(awaitable))
        self.background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures += 1
            logger.error("invalidation after commit failed: %s", task.exception())

    def close(self) -> None:
        for name, listener in self.listeners:
            if event.contains(Session, name, listener):
                event.remove(Session, name, listener)


async def _as_coroutine(awaitable: Awaitable[None]) -> None:
    await awaitable
