"""`instrument(engine)`: statement hooks feeding request stats, N+1, the slow log and pools.

The hooks are the dialect's `do_execute` / `do_executemany` / `do_execute_no_params`
events of the sync engine (the `sync_engine` of an `AsyncEngine`): they time the DBAPI
call itself, so every statement is seen — ORM, Core, lazy loads, `exec_driver_sql`.
Why not `before_cursor_execute` / `after_cursor_execute`: any engine-level listener
switches SQLAlchemy's whole execution path to its event-dispatching branch, which cost
~6 µs per statement before our own code ran (benchmarks/db_instrumentation_overhead.py);
the dialect events cost ~1 µs. The hook runs the dialect's own `do_execute` and returns
True, as SQLAlchemy's documentation describes for these events; another `do_execute`
listener registered before ours that also returns True would hide statements from us.

The hot path after the DBAPI call: a clock read, two additions, and — only inside a
sampled scope — a memoised shape lookup and a counter increment. The call site is looked
up only when something is reported (an N+1 or a slow statement).
"""

from __future__ import annotations

import contextvars
import random
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine

from overdrive.db.callsite import calling_location
from overdrive.db.errors import QueryBudgetError
from overdrive.db.invalidation import Invalidator, TagMapping, WriteInvalidation
from overdrive.db.normalize import fingerprint, normalize_statement
from overdrive.db.nplusone import NPlusOneDetector
from overdrive.db.plans import PlanCapture, internal_work, is_explainable
from overdrive.db.pool import PoolMetrics
from overdrive.db.slowlog import PlanBudget, SlowLog
from overdrive.db.stats import QueryStats
from overdrive.errors import ConfigurationError

__all__ = ["QueryInsight", "instrument"]


class QueryInsight:
    """What `instrument()` returns: scopes, counters, reports and invalidation for one engine.

        insight = instrument(engine, slow_query_ms=50)
        with insight.watch() as stats:
            await session.execute(select(User))
        assert stats.count == 1
    """

    closed: bool

    def __init__(
        self,
        engine: Engine | AsyncEngine,
        *,
        n_plus_one_threshold: int = 5,
        raise_on_n_plus_one: bool = False,
        slow_query_ms: float = 100.0,
        sample_rate: float = 1.0,
        invalidator: Invalidator | None = None,
        capture_plans: bool = True,
        plans_per_minute: float = 30.0,
        redact_parameters: bool = True,
        slow_log_size: int = 200,
    ) -> None:
        if n_plus_one_threshold < 2:
            raise ConfigurationError("n_plus_one_threshold must be at least 2")
        if not 0.0 <= sample_rate <= 1.0:
            raise ConfigurationError("sample_rate must be between 0 and 1")
        if slow_query_ms < 0 or slow_log_size < 1:
            raise ConfigurationError("slow_query_ms must be >= 0 and slow_log_size >= 1")
        self.async_engine = engine if isinstance(engine, AsyncEngine) else None
        self.engine: Engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        if not isinstance(self.engine, Engine):
            raise ConfigurationError(f"instrument() expects an Engine or AsyncEngine: {engine!r}")
        attached = _attached(self.engine.dialect)
        if attached is not None:
            # SQLAlchemy stops at the first `do_execute` listener that runs the statement:
            # a second QueryInsight on the same dialect would never see one.
            raise ConfigurationError(
                "this engine already has query insight attached (instrument() was called "
                "on it, or on an engine sharing its dialect): pass that QueryInsight on "
                "(Overdrive(db=insight)) or close() it first")
        self.dialect = self.engine.dialect.name
        self.dialect_impl = self.engine.dialect
        self.slow_query_ms = slow_query_ms
        self.sample_rate = sample_rate
        self.capture_plans = capture_plans
        self.statements = 0
        self.duration_ms = 0.0
        self.slow_statements = 0
        self.detector = NPlusOneDetector(
            threshold=n_plus_one_threshold, raise_errors=raise_on_n_plus_one
        )
        self.slow_log = SlowLog(size=slow_log_size, redact=redact_parameters)
        self.plan_budget = PlanBudget(per_minute=plans_per_minute)
        self.plans = PlanCapture(self.engine, self.async_engine, redact=redact_parameters)
        self.pool = PoolMetrics(self.engine)
        self.invalidation = WriteInvalidation(self.engine, invalidator)
        self.scope: contextvars.ContextVar[QueryStats | None] = contextvars.ContextVar(
            f"overdrive_db_scope_{id(self)}", default=None
        )
        self.hooks: list[tuple[str, Any]] = [
            ("do_execute", self._do_execute),
            ("do_executemany", self._do_executemany),
            ("do_execute_no_params", self._do_execute_no_params),
        ]
        for name, hook in self.hooks:
            event.listen(self.engine, name, hook)
        self.closed = False
        key = id(self.dialect_impl)
        _ATTACHED[key] = weakref.ref(
            self, lambda ref: _ATTACHED.pop(key) if _ATTACHED.get(key) is ref else None)

    # -- hooks ------------------------------------------------------------------------

    def _do_execute(
        self, cursor: Any, statement: str, parameters: Any, context: DefaultExecutionContext
    ) -> bool:
        started = time.perf_counter()
        self.dialect_impl.do_execute(cursor, statement, parameters, context)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self._observe(statement, parameters, elapsed_ms, False, context)
        return True

    def _do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: DefaultExecutionContext
    ) -> bool:
        started = time.perf_counter()
        self.dialect_impl.do_executemany(cursor, statement, parameters, context)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self._observe(statement, parameters, elapsed_ms, True, context)
        return True

    def _do_execute_no_params(
        self, cursor: Any, statement: str, context: DefaultExecutionContext
    ) -> bool:
        started = time.perf_counter()
        self.dialect_impl.do_execute_no_params(cursor, statement, context)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self._observe(statement, (), elapsed_ms, False, context)
        return True

    def _observe(
        self,
        statement: str,
        parameters: Any,
        elapsed_ms: float,
        executemany: bool,
        context: DefaultExecutionContext,
    ) -> None:
        if internal_work.get():
            return
        if context.isinsert or context.isupdate or context.isdelete:
            self.invalidation.note_write(context)
        self.statements += 1
        self.duration_ms += elapsed_ms
        scope = self.scope.get()
        shape: str | None = None
        if scope is not None:
            innermost = scope
            if scope.sampled:
                shape = normalize_statement(statement)
            while scope is not None:
                scope.count += 1
                scope.duration_ms += elapsed_ms
                if shape is not None and scope.sampled:
                    scope.shapes[shape] += 1
                scope = scope.parent
            if shape is not None:
                self._check_n_plus_one(innermost, shape)
        if elapsed_ms >= self.slow_query_ms:
            self._record_slow(statement, shape, parameters, elapsed_ms, executemany)

    def _check_n_plus_one(self, innermost: QueryStats, shape: str) -> None:
        scope: QueryStats | None = innermost
        while scope is not None:
            if scope.sampled and shape not in scope.reported and (
                scope.shapes[shape] >= self.detector.threshold
            ):
                reporting = scope
                # One report per execution: mark the shape on every enclosing scope too.
                outer = reporting.parent
                while outer is not None:
                    outer.reported.add(shape)
                    outer = outer.parent
                self.detector.check(reporting, shape, reporting.shapes[shape])
                return
            scope = scope.parent

    def _record_slow(
        self,
        statement: str,
        shape: str | None,
        parameters: Any,
        elapsed_ms: float,
        executemany: bool,
    ) -> None:
        self.slow_statements += 1
        shape = shape or normalize_statement(statement)
        entry = self.slow_log.record(
            statement=statement,
            shape=shape,
            fingerprint=fingerprint(shape),
            parameters=parameters,
            duration_ms=elapsed_ms,
            location=calling_location(),
            dialect=self.dialect,
        )
        if not self.capture_plans:
            entry.plan_status = "skipped"
            entry.plan_error = "plan capture disabled"
        elif executemany or not is_explainable(statement):
            entry.plan_status = "skipped"
            entry.plan_error = "statement has no plan"
        elif not self.plan_budget.allow(shape):
            entry.plan_status = "skipped"
            entry.plan_error = "plan rate limit"
        else:
            self.plans.submit(entry, statement, parameters)

    # -- scopes -----------------------------------------------------------------------

    @contextmanager
    def request_scope(self) -> Iterator[QueryStats]:
        """Count the statements of one request; the HTTP layer wraps each request in it.

        Sampled with `sample_rate`: an unsampled scope still counts statements and time
        (for `Server-Timing`) but tracks no shapes and detects no N+1.
        """
        self.pool.ensure_wrapped()
        parent = self.scope.get()
        sampled = self.sample_rate >= 1.0 or random.random() < self.sample_rate
        stats = QueryStats(sampled=sampled, parent=parent)
        token = self.scope.set(stats)
        try:
            yield stats
        finally:
            self.scope.reset(token)

    @contextmanager
    def watch(self) -> Iterator[QueryStats]:
        """Count the statements of a block of code, always sampled.

            with insight.watch() as stats:
                for user in users:
                    await session.refresh(user, ["orders"])   # raises NPlusOneError in tests
        """
        stats = QueryStats(sampled=True, parent=self.scope.get())
        token = self.scope.set(stats)
        try:
            yield stats
        finally:
            self.scope.reset(token)

    @contextmanager
    def expect_queries(self, *, at_most: int) -> Iterator[QueryStats]:
        """Fail a test when a block issues more than `at_most` statements.

            with insight.expect_queries(at_most=2):
                response = await client.get("/contents/7/versions")
        """
        with self.watch() as stats:
            yield stats
        if stats.count > at_most:
            shapes = "\n".join(f"  {count} x {shape}" for shape, count in stats.shapes.items())
            raise QueryBudgetError(
                f"{stats.count} statements, expected at most {at_most}:\n{shapes}"
            )

    def current(self) -> QueryStats | None:
        """The innermost open scope of this context, if any."""
        return self.scope.get()

    # -- invalidation -----------------------------------------------------------------

    def invalidate_on(self, model: type, mapping: TagMapping) -> None:
        """Also invalidate `mapping(obj)` when a `model` row is written and committed.

            insight.invalidate_on(Version, lambda v: [f"content:{v.content_id}"])
        """
        self.invalidation.invalidate_on(model, mapping)

    @property
    def invalidator(self) -> Invalidator | None:
        return self.invalidation.invalidator

    @invalidator.setter
    def invalidator(self, invalidator: Invalidator | None) -> None:
        """Set later when the cache is built after the engine (`Overdrive(app, db=...)`)."""
        self.invalidation.invalidator = invalidator

    # -- reading ----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters and gauges for metrics: JSON-ready, cheap to call per scrape."""
        return {
            "dialect": self.dialect,
            "statements": self.statements,
            "duration_ms": round(self.duration_ms, 3),
            "slow_statements": self.slow_statements,
            "n_plus_one_detections": self.detector.detections,
            "plans_captured": self.plans.captured,
            "plans_failed": self.plans.failed,
            "plans_skipped": self.plans.dropped,
            "invalidation_batches": self.invalidation.batches,
            "invalidation_tags": self.invalidation.tags_sent,
            "invalidation_failures": self.invalidation.failures,
            "pool": self.pool.snapshot(),
        }

    def slow_queries(self) -> list[dict[str, Any]]:
        """The slow-log ring buffer, oldest first, with plans once captured."""
        return self.slow_log.snapshot()

    def n_plus_one_reports(self) -> list[dict[str, Any]]:
        """The latest N+1 detections, oldest first."""
        return [report.as_dict() for report in list(self.detector.reports)]

    async def drain(self) -> None:
        """Wait for plans being captured (tests, shutdown)."""
        await self.plans.drain()

    def __enter__(self) -> QueryInsight:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every listener; the engine is left as it was.

        `with instrument(engine) as insight:` closes it on leaving the block.
        """
        if self.closed:
            return
        self.closed = True
        if _attached(self.dialect_impl) is self:
            del _ATTACHED[id(self.dialect_impl)]
        for name, hook in self.hooks:
            event.remove(self.engine, name, hook)
        self.invalidation.close()
        self.pool.close()
        self.plans.close()


# The open QueryInsight of each dialect (engines made by `execution_options()` share one),
# by id and weakly: the insight holds its engine, which holds the dialect.
_ATTACHED: dict[int, weakref.ref[QueryInsight]] = {}


def _attached(dialect: Any) -> QueryInsight | None:
    """The open QueryInsight on `dialect`, if any."""
    found = _ATTACHED.get(id(dialect))
    insight = found() if found is not None else None
    if insight is None or insight.closed or insight.dialect_impl is not dialect:
        return None
    return insight


def instrument(
    engine: Engine | AsyncEngine,
    *,
    n_plus_one_threshold: int = 5,
    raise_on_n_plus_one: bool = False,
    slow_query_ms: float = 100.0,
    sample_rate: float = 1.0,
    invalidator: Invalidator | None = None,
    capture_plans: bool = True,
    plans_per_minute: float = 30.0,
    redact_parameters: bool = True,
    slow_log_size: int = 200,
) -> QueryInsight:
    """Attach query insight to a sync or async SQLAlchemy engine.

        engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1/test")
        insight = instrument(engine, raise_on_n_plus_one=True, invalidator=cache.invalidate)
    """
    return QueryInsight(
        engine,
        n_plus_one_threshold=n_plus_one_threshold,
        raise_on_n_plus_one=raise_on_n_plus_one,
        slow_query_ms=slow_query_ms,
        sample_rate=sample_rate,
        invalidator=invalidator,
        capture_plans=capture_plans,
        plans_per_minute=plans_per_minute,
        redact_parameters=redact_parameters,
        slow_log_size=slow_log_size,
    )
