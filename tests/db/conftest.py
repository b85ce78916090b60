"""Engines for query-insight tests: a private Postgres schema per test, a SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.db.models import Base


def schema_name() -> str:
    return f"od_db_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A schema of our own, dropped afterwards: the shared database keeps no trace."""
    schema = schema_name()
    admin = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
async def pg_engine(postgres_url: str, pg_schema: str) -> AsyncIterator[AsyncEngine]:
    """An asyncpg engine whose search_path is the test's schema, with the models created."""
    engine = create_async_engine(
        postgres_url.replace("postgresql://", "postgresql+asyncpg://"),
        connect_args={"server_settings": {"search_path": pg_schema}},
    )
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def pg_sync_engine(postgres_url: str, pg_schema: str) -> Iterator[Engine]:
    """A psycopg (sync) engine on the test's schema, with the models created."""
    engine = create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://"),
        connect_args={"options": f"-csearch_path={pg_schema}"},
    )
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An aiosqlite engine on a file in tmp_path, with the models created."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def engine(request: pytest.FixtureRequest) -> AsyncEngine:
    """The same behaviour checked on Postgres and on SQLite."""
    name = "pg_engine" if request.param == "postgres" else "sqlite_engine"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def sqlite_path_engine(tmp_path: Path) -> Iterator[Engine]:
    """A sync pysqlite engine on a file in tmp_path, with the models created."""
    engine = create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()
