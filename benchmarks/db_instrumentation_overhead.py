"""Claim: query insight costs under 5 % per statement, so it can stay on in production.

Two engines on the same database, one bare and one instrumented (inside a request scope,
sample_rate=1, so shapes and N+1 counting run on every statement), execute the same
ORM select in paired rounds whose order alternates (bare first, then instrumented first)
so drift on a shared machine cancels out. Three figures, because end-to-end timings on a
busy machine jitter by more than the effect being measured:
- wall-clock ratio, median of the per-round ratios;
- process CPU ratio, same pairing (only the application's own CPU, where hooks run);
- the hooks alone: before/after-cursor-execute called 200k times on a real connection
  inside a request scope, divided by the bare statement's wall time.
Run: python benchmarks/db_instrumentation_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Integer, String, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from overdrive.db import QueryInsight, instrument

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
LIMIT = 0.05


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


async def seed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        rows = [{"id": i, "name": f"n{i}"} for i in range(100)]
        await conn.execute(Item.__table__.insert(), rows)


async def batch(engine: AsyncEngine, statements: int) -> tuple[float, float]:
    """Wall and CPU seconds per statement for `statements` primary-key selects."""
    async with AsyncSession(engine) as session:
        started, cpu = time.perf_counter(), time.process_time()
        for index in range(statements):
            await session.execute(select(Item).where(Item.id == index % 100))
        wall = (time.perf_counter() - started) / statements
        return wall, (time.process_time() - cpu) / statements


async def hook_seconds(engine: AsyncEngine, calls: int = 200_000) -> float:
    """Seconds the two statement hooks add per statement, measured without I/O."""
    insight = instrument(engine)
    statement = "SELECT items.id, items.name FROM items WHERE items.id = $1::INTEGER"
    try:
        async with engine.connect() as connection:
            conn = connection.sync_connection
            assert conn is not None
            return timed_hooks(insight, conn, statement, calls)
    finally:
        insight.close()


def timed_hooks(insight: QueryInsight, conn: Connection, statement: str, calls: int) -> float:
    with insight.request_scope():
        before, after = insight._before, insight._after
        started = time.perf_counter()
        for _ in range(calls):
            before(conn, None, statement, (1,), None, False)
            after(conn, None, statement, (1,), None, False)
        return (time.perf_counter() - started) / calls


@dataclass
class Figures:
    bare_wall: float
    instrumented_wall: float
    wall_overhead: float
    cpu_overhead: float
    hook: float


async def compare(
    bare: AsyncEngine, instrumented: AsyncEngine, rounds: int, size: int, *, control: bool = False
) -> Figures:
    """Paired rounds; with `control` the second engine stays bare (an A/A noise floor)."""
    insight = instrument(instrumented)
    if control:
        insight.close()
    await batch(bare, 200)
    await batch(instrumented, 200)
    bare_times: list[tuple[float, float]] = []
    instrumented_times: list[tuple[float, float]] = []
    try:
        for round_number in range(rounds):
            if round_number % 2:
                bare_times.append(await batch(bare, size))
            with insight.request_scope():
                instrumented_times.append(await batch(instrumented, size))
            if not round_number % 2:
                bare_times.append(await batch(bare, size))
    finally:
        insight.close()
    pairs = list(zip(instrumented_times, bare_times, strict=True))
    bare_wall = statistics.median(b[0] for b in bare_times)
    return Figures(
        bare_wall=bare_wall,
        instrumented_wall=statistics.median(i[0] for i in instrumented_times),
        wall_overhead=statistics.median(i[0] / b[0] for i, b in pairs) - 1,
        cpu_overhead=statistics.median(i[1] / b[1] for i, b in pairs) - 1,
        hook=0.0 if control else await hook_seconds(instrumented),
    )


async def main(quick: bool) -> None:
    logging.getLogger("overdrive.db").setLevel(logging.ERROR)  # the loop is a deliberate N+1
    rounds, size = (9, 300) if quick else (41, 500)
    results: list[tuple[str, Figures]] = []

    with TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        bare = create_async_engine(f"sqlite+aiosqlite:///{path}")
        instrumented = create_async_engine(f"sqlite+aiosqlite:///{path}")
        await seed(bare)
        results.append(("SQLite (aiosqlite)", await compare(bare, instrumented, rounds, size)))
        await bare.dispose()
        await instrumented.dispose()

    schema = f"od_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(POSTGRES_URL)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        options = {"server_settings": {"search_path": schema}}
        bare = create_async_engine(POSTGRES_URL, connect_args=options)
        instrumented = create_async_engine(POSTGRES_URL, connect_args=options)
        await seed(bare)
        results.append(("PostgreSQL (asyncpg)", await compare(bare, instrumented, rounds, size)))
        control = await compare(bare, instrumented, rounds, size, control=True)
        results.append(("A/A control: bare vs bare (PostgreSQL)", control))
        await bare.dispose()
        await instrumented.dispose()
    except OSError as error:
        Console(width=120).print(f"[yellow]PostgreSQL skipped: {error}[/yellow]")
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()

    table = Table(title=f"Instrumentation overhead per statement (median of {rounds} x {size})")
    table.add_column("Database")
    table.add_column("Bare µs", justify="right")
    table.add_column("Instr. µs", justify="right")
    table.add_column("Wall", justify="right")
    table.add_column("CPU", justify="right")
    table.add_column("Hooks µs", justify="right")
    table.add_column("Hooks share", justify="right")
    table.add_column(f"Limit {LIMIT:.0%}", justify="center")
    for name, figures in results:
        share = figures.hook / figures.bare_wall
        control_row = figures.hook == 0.0
        table.add_row(
            name,
            f"{figures.bare_wall * 1e6:.0f}",
            f"{figures.instrumented_wall * 1e6:.0f}",
            f"{figures.wall_overhead:+.1%}",
            f"{figures.cpu_overhead:+.1%}",
            "-" if control_row else f"{figures.hook * 1e6:.2f}",
            "-" if control_row else f"{share:.2%}",
            "-" if control_row else "[green]met[/green]" if share < LIMIT else "[red]missed[/red]",
        )
    Console(width=120).print(table)
    Console(width=120).print(
        "Hooks share = the hooks' own cost per statement / the bare statement's time; "
        "wall and CPU are end-to-end ratios; the A/A row shows their noise floor on this machine."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
