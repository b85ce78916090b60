"""Read-only sessions read from a replica until they write; everything else uses the primary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from overdrive.db import ReplicaRouter
from overdrive.errors import ConfigurationError
from tests.db.models import Author, Base


async def database(path: Path, label: str) -> AsyncEngine:
    """A SQLite file whose single author names the database, so a read shows its source."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(Author.__table__.insert().values(id=1, name=label))
    return engine


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[ReplicaRouter]:
    primary = await database(tmp_path / "primary.db", "primary")
    replicas = [await database(tmp_path / f"replica{n}.db", f"replica{n}") for n in (1, 2)]
    yield ReplicaRouter(primary, replicas)
    for engine in (primary, *replicas):
        await engine.dispose()


async def source(session: object) -> str | None:
    return await session.scalar(select(Author.name).where(Author.id == 1))  # type: ignore[attr-defined, no-any-return]


async def test_read_only_sessions_read_from_replicas_round_robin(router: ReplicaRouter) -> None:
    """Each read-only session sticks to one replica; successive sessions rotate."""
    seen = []
    for _ in range(3):
        async with router.session(read_only=True) as session:
            first = await source(session)
            assert await source(session) == first
            seen.append(first)
    assert seen == ["replica1", "replica2", "replica1"]


async def test_default_sessions_use_the_primary(router: ReplicaRouter) -> None:
    """A session not marked read-only reads and writes the primary."""
    async with router.session() as session:
        assert await source(session) == "primary"


async def test_reads_after_a_write_go_to_the_primary(router: ReplicaRouter) -> None:
    """Read-your-writes: once a read-only session flushes, its reads follow the primary."""
    async with router.session(read_only=True) as session:
        assert (await source(session)).startswith("replica")  # type: ignore[union-attr]
        session.add(Author(id=2, name="new"))
        await session.flush()
        assert await source(session) == "primary"
        assert await session.scalar(select(Author.name).where(Author.id == 2)) == "new"
        await session.commit()
    async with router.session() as session:
        result = await session.execute(text("SELECT name FROM authors WHERE id = 2"))
        assert result.scalar() == "new"


async def test_explicit_write_statements_go_to_the_primary(router: ReplicaRouter) -> None:
    """UPDATE and SELECT ... FOR UPDATE are writes, even in a read-only session."""
    async with router.session(read_only=True) as session:
        await session.execute(Author.__table__.update().values(name="renamed"))
        assert await source(session) == "renamed"
        await session.commit()


def test_sync_engines_are_refused(tmp_path: Path) -> None:
    """The router routes async sessions: sync engines are a ConfigurationError."""
    from sqlalchemy import create_engine

    with pytest.raises(ConfigurationError):
        ReplicaRouter(create_engine("sqlite://"), [])  # type: ignore[arg-type]


async def test_routing_on_postgres(postgres_url: str, pg_schema: str) -> None:
    """On asyncpg engines too: a replica schema answers read-only reads, the primary writes."""
    url = postgres_url.replace("postgresql://", "postgresql+asyncpg://")
    replica_schema = f"{pg_schema}_replica"
    engines: list[AsyncEngine] = []
    for schema, label in ((pg_schema, "primary"), (replica_schema, "replica")):
        admin = create_async_engine(url)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await admin.dispose()
        engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(Author.__table__.insert().values(id=1, name=label))
        engines.append(engine)
    router = ReplicaRouter(engines[0], engines[1:])
    try:
        async with router.session(read_only=True) as session:
            assert await source(session) == "replica"
            session.add(Author(id=2, name="written"))
            await session.commit()
            assert await source(session) == "primary"
        async with router.session() as session:
            assert await session.get(Author, 2) is not None
    finally:
        for engine in engines:
            await engine.dispose()
        admin = create_async_engine(url)
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{replica_schema}" CASCADE'))
        await admin.dispose()
