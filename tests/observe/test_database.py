"""Statement latency histogram and pool gauges from real SQLAlchemy engines."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from overdrive.observe import Observability
from overdrive.slo import Objectives

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def values(body: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


async def run_app(engine: object, sleep_sql: str) -> Samples:
    async def query(request: Request) -> JSONResponse:
        async with engine.connect() as connection:  # type: ignore[attr-defined]
            await connection.execute(text("SELECT 1"))
            await connection.execute(text(sleep_sql))
            return JSONResponse({"ok": True})

    app = Observability(Starlette(routes=[Route("/q", query)]), engines=[engine],
                        objectives=Objectives())
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for _ in range(3):
                assert (await http.get("/q")).status_code == 200
            return values((await http.get("/metrics")).text)
    finally:
        await app.aclose()


async def test_postgres_statements_land_in_the_histogram(postgres_url: str) -> None:
    """Six statements are timed; the three pg_sleep(0.03) ones fall in the 50 ms bucket."""
    engine = create_async_engine(postgres_url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        metrics = await run_app(engine, "SELECT pg_sleep(0.03)")
    finally:
        await engine.dispose()
    count = metrics[("overdrive_db_statement_duration_seconds_count", ())]
    assert count >= 6
    fast = metrics[("overdrive_db_statement_duration_seconds_bucket", (("le", "0.025"),))]
    slow = metrics[("overdrive_db_statement_duration_seconds_bucket", (("le", "0.05"),))]
    assert slow - fast == 3
    assert metrics[("overdrive_db_statement_duration_seconds_sum", ())] >= 0.09
    assert metrics[("overdrive_db_pool_size", ())] == 5
    assert metrics[("overdrive_db_pool_connections_in_use", ())] == 0


async def test_sqlite_without_a_sized_pool_still_times_statements(tmp_path: Path) -> None:
    """A pool without size() reports zero instead of failing; timings still arrive."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        metrics = await run_app(engine, "SELECT 2")
    finally:
        await engine.dispose()
    assert metrics[("overdrive_db_statement_duration_seconds_count", ())] >= 6
