"""Engine and schema setup for SQLite (aiosqlite) and Postgres (asyncpg).

A `schema` puts every table in its own Postgres schema (through SQLAlchemy's
`schema_translate_map`), so several copies of the application, or test sessions, share
one database without sharing a table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from examples.versioning.schema import OPTIMISED_METADATA, Base

__all__ = ["create_engine", "create_schema", "drop_schema", "session_factory"]

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(database_url: str) -> str:
    """`postgresql://` and `sqlite://` URLs get their async drivers; others pass unchanged."""
    url = make_url(database_url)
    driver = _DRIVERS.get(url.drivername)
    return (
        url.set(drivername=driver).render_as_string(hide_password=False)
        if driver
        else (database_url)
    )


def create_engine(
    database_url: str,
    *,
    schema: str | None = None,
    pool_size: int = 10,
    max_overflow: int = 20,
) -> AsyncEngine:
    url = make_url(async_url(database_url))
    options: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        # Writers queue on SQLite's lock instead of failing at once with "database is locked".
        options["connect_args"] = {"timeout": 30}
    else:
        options.update(pool_size=pool_size, max_overflow=max_overflow)
    engine = create_async_engine(url, **options)
    if url.get_backend_name() == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            # WAL lets readers run while one writer commits; NORMAL sync is safe under WAL.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    if schema is not None:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_schema(engine: AsyncEngine, *, optimised: bool, schema: str | None = None) -> None:
    """Create the tables (and, when optimised, the indexes) if they do not exist yet."""
    metadata = OPTIMISED_METADATA if optimised else Base.metadata
    async with engine.begin() as connection:
        if schema is not None:
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await connection.run_sync(metadata.create_all)


async def drop_schema(engine: AsyncEngine, *, schema: str | None = None) -> None:
    """Drop the application's tables (the whole Postgres schema when one was given)."""
    async with engine.begin() as connection:
        if schema is not None:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        else:
            await connection.run_sync(OPTIMISED_METADATA.drop_all)
