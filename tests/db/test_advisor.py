"""The advisor recommends the index the planner proves, refuses useless ones, changes nothing."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from typer.testing import CliRunner

from overdrive.cli import app
from overdrive.db import instrument
from overdrive.db.advisor import advise
from overdrive.db.errors import AdvisorError
from tests.db.conftest import schema_name

COMPOSITE = "SELECT * FROM events WHERE account_id = $1 AND created_at > $2 ORDER BY created_at"
USELESS = "SELECT * FROM events WHERE flag = $1"
COVERED = "SELECT * FROM events WHERE kind = %(kind)s"


@pytest.fixture(scope="module")
def seeded_schema(postgres_url: str) -> Iterator[str]:
    """200k events with no index but the key and one on kind, in a schema of their own."""
    schema = schema_name()
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(
            text(
                f'CREATE TABLE "{schema}".events AS SELECT g AS id, g % 20000 AS account_id, '
                "g % 7 AS kind, (g % 2 = 0) AS flag, "
                "timestamp '2026-01-01' + g * interval '1 minute' AS created_at "
                "FROM generate_series(1, 200000) g"
            )
        )
        conn.execute(text(f'ALTER TABLE "{schema}".events ADD PRIMARY KEY (id)'))
        conn.execute(text(f'CREATE INDEX ON "{schema}".events (kind)'))
        conn.execute(text(f'ANALYZE "{schema}".events'))
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
async def events_engine(postgres_url: str, seeded_schema: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        postgres_url.replace("postgresql://", "postgresql+asyncpg://"),
        connect_args={"server_settings": {"search_path": seeded_schema}},
    )
    yield engine
    await engine.dispose()


async def database_state(engine: AsyncEngine, schema: str) -> tuple[list[str], int]:
    """Our schema's indexes, and whether hypopg is installed (others share the server)."""
    async with engine.connect() as conn:
        indexes = await conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE schemaname = :s ORDER BY 1"), {"s": schema}
        )
        hypopg = await conn.scalar(
            text("SELECT count(*) FROM pg_extension WHERE extname = 'hypopg'")
        )
    return [row[0] for row in indexes.all()], int(hypopg or 0)


@pytest.mark.parametrize("use_hypopg", [None, False])
async def test_recommends_the_composite_and_rejects_the_useless(
    events_engine: AsyncEngine, seeded_schema: str, use_hypopg: bool | None
) -> None:
    """Equality then range column is proven; a boolean column index is tried and refused."""
    before = await database_state(events_engine, seeded_schema)
    async with events_engine.connect() as conn:
        hypopg = await conn.scalar(
            text("SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'")
        )
    report = await advise(events_engine, [COMPOSITE, USELESS, COVERED], use_hypopg=use_hypopg)
    assert report.method == ("hypopg" if hypopg and use_hypopg is None else "rollback")
    assert [r.candidate.columns for r in report.recommendations] == [("account_id", "created_at")]
    recommendation = report.recommendations[0]
    assert recommendation.improvement >= 0.5
    assert recommendation.statements == [COMPOSITE]
    assert recommendation.create_statement.startswith("CREATE INDEX CONCURRENTLY")
    assert [r.candidate.columns for r in report.rejected] == [("flag",)]
    assert report.rejected[0].improvement < 0.5
    assert "events (kind)" in report.covered
    assert report.errors == []
    assert await database_state(events_engine, seeded_schema) == before


async def test_a_higher_bar_turns_a_recommendation_down(events_engine: AsyncEngine) -> None:
    """min_improvement is honoured: at 99.99 % nothing qualifies."""
    report = await advise(events_engine, [COMPOSITE], min_improvement=0.9999)
    assert report.recommendations == []
    assert report.rejected[0].candidate.columns == ("account_id", "created_at")


async def test_broken_statements_are_reported_not_fatal(events_engine: AsyncEngine) -> None:
    """A statement on a missing table is listed in errors; the others are still advised."""
    report = await advise(events_engine, ["SELECT * FROM missing WHERE a = 1", COMPOSITE])
    assert len(report.errors) == 1
    assert "missing" in report.errors[0]
    assert len(report.recommendations) == 1


async def test_sqlite_full_scans_get_a_proven_index(tmp_path: Path) -> None:
    """On SQLite a SCAN becomes a SEARCH with the candidate; the file keeps its indexes."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'advise.db'}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total INTEGER)"
            )
            await conn.exec_driver_sql("CREATE INDEX orders_total ON orders (total)")
        report = await advise(
            engine,
            [
                "SELECT * FROM orders WHERE customer = ? ORDER BY id DESC",
                "SELECT * FROM orders WHERE total > 5",
            ],
        )
        assert [r.candidate.columns for r in report.recommendations] == [("customer",)]
        assert report.recommendations[0].improvement >= 0.5
        assert "orders (total)" in report.covered
        async with engine.connect() as conn:
            names = (
                await conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
            ).all()
        assert [row[0] for row in names] == ["orders_total"]
    finally:
        await engine.dispose()


async def test_bad_min_improvement_is_refused(events_engine: AsyncEngine) -> None:
    """min_improvement must be a share strictly between 0 and 1."""
    with pytest.raises(AdvisorError):
        await advise(events_engine, [COMPOSITE], min_improvement=50)


async def test_slow_log_dump_round_trips_through_the_cli(
    events_engine: AsyncEngine, seeded_schema: str, postgres_url: str, tmp_path: Path
) -> None:
    """Statements captured by the slow log (asyncpg $n) are advised by `overdrive advise`."""
    with instrument(events_engine, slow_query_ms=0, capture_plans=False) as insight:
        async with events_engine.connect() as conn:
            await conn.execute(
                text(
                    f'SELECT * FROM "{seeded_schema}".events '
                    "WHERE account_id = :account AND created_at > :since ORDER BY created_at"
                ),
                {"account": 42, "since": datetime.datetime(2026, 3, 1)},
            )
    log = tmp_path / "slow.json"
    log.write_text(json.dumps(insight.slow_queries()))
    argv = ["advise", postgres_url, "--from-log", str(log), "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, argv)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [r["columns"] for r in report["recommendations"]] == [["account_id", "created_at"]]
    assert report["recommendations"][0]["create_statement"].startswith(
        f'CREATE INDEX CONCURRENTLY "events_account_id_created_at_idx" ON "{seeded_schema}"'
    )


@pytest.mark.parametrize("use_hypopg", [None, False])
async def test_a_small_table_never_analysed_gets_no_index(
    postgres_url: str, use_hypopg: bool | None
) -> None:
    """A three-row table never analysed: no index is worth it, and none is proposed.

    Building an index in the rolled-back transaction records the table's size, which once
    made "after" look cheaper than "before" (planned on default guesses) for any index."""
    schema = schema_name()
    engine = create_async_engine(postgres_url.replace("postgresql://", "postgresql+asyncpg://"),
                                 connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            await conn.execute(text(
                f'CREATE TABLE "{schema}".addresses (id serial PRIMARY KEY, kind text, '
                "ref text, UNIQUE (kind, ref))"))
            await conn.execute(text(f"""INSERT INTO "{schema}".addresses (kind, ref)
                                        VALUES ('page', 'a'), ('page', 'b'), ('post', 'a')"""))
        before = await database_state(engine, schema)
        report = await advise(engine, ["SELECT id FROM addresses WHERE kind = $1 AND ref = $2",
                                       "SELECT id FROM addresses WHERE ref = $1"],
                              use_hypopg=use_hypopg)
        assert report.recommendations == [], [str(r.candidate) for r in report.recommendations]
        assert report.errors == []
        assert "addresses (kind, ref)" in {item.split(".")[-1] for item in report.covered}
        assert await database_state(engine, schema) == before
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()
