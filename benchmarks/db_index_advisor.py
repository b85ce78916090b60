"""Claim: the advisor finds the missing indexes of a schema, and they really speed queries up.

A schema of its own (dropped after) is seeded with 5 tables and 5 known missing indexes,
plus 3 decoy statements that no index should be recommended for (a low-selectivity
filter, a primary-key lookup, a full aggregate). The advisor runs on the 8 statements
(with HypoPG, then with rolled-back real indexes); then each recommended index is really
created, the statement timed before and after (median), and the index dropped.
Run: python benchmarks/db_index_advisor.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from overdrive.db.advisor import AdviceReport, advise

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

SEED = [
    "CREATE TABLE customers AS SELECT g AS id, 'user' || g || '@example.com' AS email, "
    "(ARRAY['FR','DE','US','JP'])[g % 4 + 1] AS country FROM generate_series(1, 200000) g",
    "CREATE TABLE orders AS SELECT g AS id, g % 500 AS customer_id, "
    "(ARRAY['new','paid','shipped','done','void'])[g % 5 + 1] AS status, "
    "timestamp '2026-01-01' + g * interval '1 minute' AS created_at, g % 997 AS total "
    "FROM generate_series(1, 500000) g",
    "CREATE TABLE order_items AS SELECT g AS id, g / 3 AS order_id, g % 10000 AS product_id, "
    "1 + g % 4 AS quantity FROM generate_series(1, 600000) g",
    "CREATE TABLE events AS SELECT g AS id, g % 1000 AS account_id, g % 9 AS kind, "
    "timestamp '2026-01-01' + g * interval '1 minute' AS created_at "
    "FROM generate_series(1, 500000) g",
    "CREATE TABLE sessions AS SELECT g AS id, 'tok-' || md5(g::text) AS token, "
    "g % 50000 AS user_id FROM generate_series(1, 200000) g",
]
KEYS = ["customers", "orders", "order_items", "events", "sessions"]

# (statement, the index it needs as (table, columns)) — None for decoys.
WORKLOAD: list[tuple[str, tuple[str, tuple[str, ...]] | None]] = [
    (
        "SELECT * FROM customers WHERE email = 'user123456@example.com'",
        ("customers", ("email",)),
    ),
    (
        "SELECT * FROM orders WHERE customer_id = 42 ORDER BY created_at DESC LIMIT 20",
        ("orders", ("customer_id", "created_at")),
    ),
    ("SELECT * FROM order_items WHERE order_id = 77777", ("order_items", ("order_id",))),
    (
        "SELECT count(*) FROM events WHERE account_id = 17 "
        "AND created_at >= '2026-03-01' AND created_at < '2026-03-08'",
        ("events", ("account_id", "created_at")),
    ),
    (
        "SELECT user_id FROM sessions WHERE token = 'tok-' || md5('99999')",
        ("sessions", ("token",)),
    ),
    ("SELECT * FROM orders WHERE status = 'shipped'", None),
    ("SELECT * FROM customers WHERE id = 4242", None),
    ("SELECT country, count(*) FROM customers GROUP BY country", None),
]


async def median_ms(conn: AsyncConnection, statement: str, repeats: int) -> float:
    await conn.exec_driver_sql(statement)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await conn.exec_driver_sql(statement)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def found(report: AdviceReport) -> set[tuple[str, tuple[str, ...]]]:
    return {(r.candidate.table, r.candidate.columns) for r in report.recommendations}


async def run_advisor(engine: AsyncEngine, use_hypopg: bool) -> tuple[AdviceReport, float]:
    started = time.perf_counter()
    report = await advise(engine, [statement for statement, _ in WORKLOAD], use_hypopg=use_hypopg)
    return report, time.perf_counter() - started


async def main(quick: bool) -> None:
    console = Console(width=130)
    repeats = 5 if quick else 15
    schema = f"od_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(POSTGRES_URL)
    engine = create_async_engine(
        POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}
    )
    expected = {need for _, need in WORKLOAD if need is not None}
    timings: list[tuple[str, str, float, float, float, float]] = []
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        async with engine.begin() as conn:
            for statement in SEED:
                await conn.exec_driver_sql(statement)
            for table in KEYS:
                await conn.exec_driver_sql(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
                await conn.exec_driver_sql(f"ANALYZE {table}")

        hypo_report, hypo_seconds = await run_advisor(engine, use_hypopg=True)
        real_report, real_seconds = await run_advisor(engine, use_hypopg=False)

        async with engine.connect() as plain:
            conn = await plain.execution_options(isolation_level="AUTOCOMMIT")
            for recommendation in hypo_report.recommendations:
                statement = recommendation.statements[0]
                before = await median_ms(conn, statement, repeats)
                await conn.exec_driver_sql(recommendation.create_statement)
                name = recommendation.create_statement.split('"')[1]
                await conn.exec_driver_sql(f"ANALYZE {recommendation.candidate.table}")
                after = await median_ms(conn, statement, repeats)
                await conn.exec_driver_sql(f'DROP INDEX "{name}"')
                timings.append(
                    (
                        str(recommendation.candidate),
                        "expected" if (
                            recommendation.candidate.table,
                            recommendation.candidate.columns,
                        ) in expected else "FALSE POSITIVE",
                        recommendation.cost_before,
                        recommendation.cost_after,
                        before,
                        after,
                    )
                )
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()

    table = Table(title="Recommended indexes, then really created, timed and dropped")
    table.add_column("Index")
    table.add_column("Known missing?")
    table.add_column("Cost before", justify="right")
    table.add_column("Cost after", justify="right")
    table.add_column(f"ms before (median of {repeats})", justify="right")
    table.add_column("ms after", justify="right")
    table.add_column("Speed-up", justify="right")
    for index, verdict, cost_before, cost_after, before, after in timings:
        table.add_row(
            index,
            verdict,
            f"{cost_before:,.0f}",
            f"{cost_after:,.1f}",
            f"{before:.2f}",
            f"{after:.2f}",
            f"{before / after:.0f}x",
        )
    console.print(table)

    summary = Table(title="Advisor: 5 known missing indexes, 3 decoy statements")
    summary.add_column("Method")
    summary.add_column("Found", justify="right")
    summary.add_column("False positives", justify="right")
    summary.add_column("Advisor run, s", justify="right")
    for label, report, seconds in (
        ("HypoPG (hypothetical indexes)", hypo_report, hypo_seconds),
        ("BEGIN; CREATE INDEX; EXPLAIN; ROLLBACK", real_report, real_seconds),
    ):
        summary.add_row(
            label,
            f"{len(found(report) & expected)} / {len(expected)}",
            str(len(found(report) - expected)),
            f"{seconds:.2f}",
        )
    console.print(summary)
    missed = expected - found(hypo_report)
    if missed:
        console.print(f"[red]missed:[/red] {sorted(missed)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
