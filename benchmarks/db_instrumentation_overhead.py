"""Claim: query insight costs under 5 % per statement, so it can stay on in production.

Two engines on the same database, one bare and one instrumented (inside a request scope,
sample_rate=1, so shapes and N+1 counting run on every statement), execute the same
ORM select in paired rounds whose order alternates (bare first, then instrumented first)
so drift on a shared machine cancels out. Three figures, because end-to-end timings on a
busy machine jitter by more than the effect being measured:
- wall-clock ratio of the best rounds (as timeit: other processes only add time);
- process CPU ratio of the best rounds (the application's own CPU, where hooks run);
- the hooks alone: before/after-cursor-execute called 200k times on a real connection
  inside a request scope, divided by the bare statement's wall time.
Run: python benchmarks/db_instrumentation_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from types import SimpleNamespace
from typing import cast

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, Integer, String, create_engine, select, text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from overdrive.db import instrument

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


class NoCursor:
    """A DBAPI cursor whose execute does nothing, to time the hook without I/O."""

    def execute(self, statement: str, parameters: object = None) -> None:
        return None


def hook_seconds(engine: Engine, calls: int = 200_000) -> float:
    """Seconds our hook adds per statement: hooked do_execute minus the dialect's own."""
    insight = instrument(engine)
    statement = "SELECT items.id, items.name FROM items WHERE items.id = ?"
    cursor = NoCursor()
    select_context = SimpleNamespace(isinsert=False, isupdate=False, isdelete=False)
    context = cast(DefaultExecutionContext, select_context)
    plain = engine.dialect.do_execute
    try:
        with insight.request_scope():
            hooked = insight._do_execute
            started = time.perf_counter()
            for _ in range(calls):
                hooked(cursor, statement, (1,), context)
            with_hook = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(calls):
            plain(cursor, statement, (1,), context)
        without = time.perf_counter() - started
    finally:
        insight.close()
    return (with_hook - without) / calls


def sync_batch(engine: Engine, statements: int) -> tuple[float, float]:
    with Session(engine) as session:
        started, cpu = time.perf_counter(), time.process_time()
        for index in range(statements):
            session.execute(select(Item).where(Item.id == index % 100))
        wall = (time.perf_counter() - started) / statements
        return wall, (time.process_time() - cpu) / statements


def in_memory_engine() -> Engine:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(Item.__table__.insert(), [{"id": i, "name": f"n{i}"} for i in range(100)])
    return engine


def compare_in_memory(rounds: int, size: int) -> Figures:
    """In-process SQLite: no network, no thread hop, so the least noisy end-to-end pair."""
    bare, instrumented = in_memory_engine(), in_memory_engine()
    insight = instrument(instrumented)
    sync_batch(bare, 500)
    sync_batch(instrumented, 500)
    pairs: list[tuple[tuple[float, float], tuple[float, float]]] = []
    try:
        for round_number in range(rounds * 2):
            with insight.request_scope():
                if round_number % 2:
                    base = sync_batch(bare, size)
                    pairs.append((sync_batch(instrumented, size), base))
                else:
                    hooked = sync_batch(instrumented, size)
                    pairs.append((hooked, sync_batch(bare, size)))
    finally:
        insight.close()
    return Figures(
        **best_of([b for _, b in pairs], [i for i, _ in pairs]),
        hook=hook_seconds(instrumented),
    )


def best_of(
    bare: list[tuple[float, float]], instrumented: list[tuple[float, float]]
) -> dict[str, float]:
    """Best round of each side (as timeit): other processes only ever add time."""
    bare_wall, bare_cpu = min(b[0] for b in bare), min(b[1] for b in bare)
    wall, cpu = min(i[0] for i in instrumented), min(i[1] for i in instrumented)
    return {
        "bare_wall": bare_wall,
        "instrumented_wall": wall,
        "wall_overhead": wall / bare_wall - 1,
        "cpu_overhead": cpu / bare_cpu - 1,
    }


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
    return Figures(
        **best_of(bare_times, instrumented_times),
        hook=0.0 if control else hook_seconds(instrumented.sync_engine),
    )


async def main(quick: bool) -> None:
    logging.getLogger("overdrive.db").setLevel(logging.ERROR)  # the loop is a deliberate N+1
    rounds, size = (9, 300) if quick else (41, 500)
    results: list[tuple[str, Figures]] = [
        ("SQLite in memory (sync, in-process)", compare_in_memory(rounds, size)),
    ]

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
        with contextlib.suppress(OSError):
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()

    title = f"Instrumentation overhead per statement (best of {rounds} rounds x {size})"
    table = Table(title=title)
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
            "-"
            if control_row
            else "[green]met[/green]"
            if max(share, figures.wall_overhead) < LIMIT
            else "[red]missed[/red]",
        )
    Console(width=120).print(table)
    Console(width=120).print(
        "Hooks share = the hooks' own cost per statement / the bare statement's time; "
        "wall and CPU are end-to-end ratios; the A/A row shows their noise floor on this machine. "
        "Met = both the hooks share and the end-to-end wall overhead are under the limit."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
