"""Deployments of the reference application for tests: SQLite file or a Postgres schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from examples.versioning import Runtime, SeedReport, SeedSizes, Settings, create_app, seed
from examples.versioning.database import create_engine, drop_schema

SMALL = SeedSizes(
    items=3,
    large_items=1,
    large_versions=120,
    versions=30,
    min_body_bytes=1_000,
    max_body_bytes=8_000,
    publish_every=10,
)


@dataclass
class Deployment:
    app: FastAPI
    client: httpx.AsyncClient
    report: SeedReport
    database_url: str
    settings: Settings

    @property
    def state(self) -> Runtime:
        state: Runtime = self.app.state.versioning
        return state

    def auth(self, user: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.report.tokens[user]}"}

    def item(self, index: int = 0) -> str:
        content_type, content_id = self.report.items[index]
        return f"/contents/{content_type}/{content_id}"

    async def get(self, path: str, user: str = "admin", **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, headers=self.auth(user), **kwargs)


Deploy = Callable[..., Awaitable[Deployment]]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Any) -> tuple[str, str | None]:
    """A database URL and, on Postgres, a schema of this test's own."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'versions.db'}", None
    url: str = request.getfixturevalue("postgres_url")
    return url, f"vt_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def deploy(database: tuple[str, str | None], namespace: str) -> AsyncIterator[Deploy]:
    """Starts seeded applications on the test's database; stops them and drops the schema."""
    url, schema = database
    async with AsyncExitStack() as stack:
        if schema is not None:

            async def drop() -> None:
                engine = create_engine(url)
                try:
                    await drop_schema(engine, schema=schema)
                finally:
                    await engine.dispose()

            stack.push_async_callback(drop)

        async def start(
            *,
            optimised: bool = True,
            redis_url: str | None = None,
            sizes: SeedSizes | None = SMALL,
            **settings: Any,
        ) -> Deployment:
            defaults: dict[str, Any] = {
                "db_schema": schema,
                "cache_namespace": namespace,
                "secret_key": "test-secret",
                "pool_size": 5,
                "max_overflow": 5,
            }
            configured = Settings(**(defaults | settings))
            app = create_app(url, redis_url=redis_url, optimised=optimised, settings=configured)
            await stack.enter_async_context(app.router.lifespan_context(app))
            report = await seed(app.state.versioning.engine, sizes) if sizes else SeedReport()
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://versioning.test"
            )
            stack.push_async_callback(client.aclose)
            return Deployment(app, client, report, url, configured)

        yield start


@pytest.fixture
async def deployment(deploy: Deploy) -> Deployment:
    """The optimised application, seeded with a few small items."""
    return await deploy()
