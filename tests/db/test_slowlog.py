"""Slow statements land in a bounded log with redacted parameters and a captured plan."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from overdrive.db import instrument
from overdrive.db.slowlog import PlanBudget, redact_parameters, redact_plan
from tests.db.models import Author


async def test_postgres_slow_query_has_a_json_plan(pg_engine: AsyncEngine) -> None:
    """A statement over slow_query_ms is logged with its EXPLAIN (FORMAT JSON) plan."""
    with instrument(pg_engine, slow_query_ms=30) as insight:
        async with pg_engine.connect() as conn:
            await conn.execute(
                text("SELECT a.id FROM authors a, pg_sleep(0.05) WHERE a.name = :name"),
                {"name": "secret@example.com"},
            )
            await conn.execute(text("SELECT 1"))
        await insight.drain()
        slow = insight.slow_queries()
        assert len(slow) == 1
        entry = slow[0]
        assert entry["duration_ms"] >= 30
        assert entry["parameters"] == ["<str>"]
        assert "secret" not in json.dumps(entry)
        assert entry["location"].startswith(__file__)
        assert entry["plan_status"] == "captured"
        assert entry["plan"][0]["Plan"]["Node Type"]
        assert insight.stats()["slow_statements"] == 1
        assert insight.stats()["plans_captured"] == 1
        assert insight.stats()["statements"] == 2


async def test_sqlite_slow_query_has_a_query_plan(sqlite_engine: AsyncEngine) -> None:
    """On SQLite the plan is EXPLAIN QUERY PLAN's rows; a full scan reads `SCAN authors`."""
    with instrument(sqlite_engine, slow_query_ms=0, redact_parameters=False) as insight:
        async with AsyncSession(sqlite_engine) as session:
            await session.scalars(select(Author).where(Author.name == "x"))
        await insight.drain()
        (entry,) = insight.slow_queries()
        assert entry["parameters"] == ["x"]
        assert entry["plan_status"] == "captured"
        assert any(row["detail"].startswith("SCAN authors") for row in entry["plan"])


def test_sync_engine_plans_are_captured_by_the_worker(pg_sync_engine: Engine) -> None:
    """A sync engine's plan is captured in the background thread, not in the caller."""
    with instrument(pg_sync_engine, slow_query_ms=0) as insight:
        with Session(pg_sync_engine) as session:
            session.scalars(select(Author).where(Author.id == 3)).all()
        insight.plans.wait()
        (entry,) = insight.slow_queries()
        assert entry["plan_status"] == "captured"
        assert entry["plan"][0]["Plan"]["Node Type"]
        json.dumps(insight.slow_queries())


async def test_plans_are_rate_limited_per_shape(sqlite_engine: AsyncEngine) -> None:
    """Repeats of one slow shape get one plan; the rest are marked as skipped."""
    with instrument(sqlite_engine, slow_query_ms=0) as insight:
        async with sqlite_engine.connect() as conn:
            for value in range(3):
                await conn.execute(text("SELECT :v + 1"), {"v": value})
        await insight.drain()
        statuses = [entry["plan_status"] for entry in insight.slow_queries()]
        assert statuses == ["captured", "skipped", "skipped"]
        assert insight.slow_queries()[1]["plan_error"] == "plan rate limit"


async def test_the_ring_buffer_keeps_the_newest(sqlite_engine: AsyncEngine) -> None:
    """The slow log holds at most slow_log_size entries, newest last."""
    with instrument(
        sqlite_engine, slow_query_ms=0, slow_log_size=3, capture_plans=False
    ) as insight:
        async with sqlite_engine.connect() as conn:
            for value in range(5):
                await conn.execute(text(f"SELECT {value}"))
        statements = [entry["statement"] for entry in insight.slow_queries()]
        assert statements == ["SELECT 2", "SELECT 3", "SELECT 4"]


async def test_writes_are_logged_but_not_replanned_in_bulk(sqlite_engine: AsyncEngine) -> None:
    """executemany has no single plan: it is logged with plan_status skipped."""
    with instrument(sqlite_engine, slow_query_ms=0) as insight:
        async with sqlite_engine.begin() as conn:
            await conn.execute(
                Author.__table__.insert(), [{"name": "a"}, {"name": "b"}, {"name": "c"}]
            )
        await insight.drain()
        inserts = [e for e in insight.slow_queries() if e["statement"].startswith("INSERT")]
        assert inserts
        assert inserts[0]["plan_status"] == "skipped"


def test_plan_budget_refills_with_the_clock() -> None:
    """The token bucket allows `per_minute` plans, then one more per refill interval."""
    now = [0.0]
    budget = PlanBudget(per_minute=2, shape_interval=0, clock=lambda: now[0])
    assert budget.allow("a")
    assert budget.allow("b")
    assert not budget.allow("c")
    now[0] = 30.0
    assert budget.allow("c")
    assert not budget.allow("d")


def test_plan_budget_spaces_out_one_shape() -> None:
    """One shape is explained at most once per shape_interval."""
    now = [0.0]
    budget = PlanBudget(per_minute=100, shape_interval=60, clock=lambda: now[0])
    assert budget.allow("a")
    now[0] = 59.0
    assert not budget.allow("a")
    now[0] = 61.0
    assert budget.allow("a")


def test_redaction_keeps_structure_not_values() -> None:
    """Dict and list parameters keep their keys and length, values become type names."""
    assert redact_parameters({"email": "x@y", "n": 3}) == {"email": "<str>", "n": "<int>"}
    assert redact_parameters((1, None)) == ["<int>", "<NoneType>"]


def test_plan_redaction_masks_condition_literals() -> None:
    """Literals Postgres prints into Filter/Cond lines are masked; node types are kept."""
    plan = [{"Plan": {"Node Type": "Seq Scan", "Filter": "((name)::text = 'a@b.c'::text)",
                      "Plans": [{"Index Cond": "(id = 42)", "Relation Name": "t1"}]}}]
    redacted = redact_plan(plan)
    assert redacted[0]["Plan"]["Filter"] == "((name)::text = ?::text)"
    assert redacted[0]["Plan"]["Plans"][0]["Index Cond"] == "(id = ?)"
    assert redacted[0]["Plan"]["Plans"][0]["Relation Name"] == "t1"
