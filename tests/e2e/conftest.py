"""One deployment of the reference application for the whole e2e session.

Two uvicorn workers (separate processes, separate ports) share a Postgres schema and a
Redis cache namespace of this session's own, and a private varnishd sits in front of the
first worker. Everything is removed afterwards: workers stopped, varnishd stopped, the
schema dropped, the namespace's Redis keys deleted. Tests use different seeded items so
that they do not disturb each other's histories.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from examples.versioning import SeedReport, SeedSizes, create_engine, create_schema, seed
from examples.versioning.database import drop_schema
from overdrive.demo.cleanup import delete_keys
from tests.e2e.workers import Worker, uvicorn_workers
from tests.http.live import varnish, varnishd_binary
from tests.servers import free_port, service_required

SECRET = "e2e-shared-secret"
SIZES = SeedSizes(
    items=4,
    large_items=0,
    versions=20,
    min_body_bytes=1_000,
    max_body_bytes=4_000,
    publish_every=5,
)


@dataclass(frozen=True)
class Deployment:
    """The running deployment as the tests see it."""

    workers: tuple[Worker, Worker]
    edge: str | None
    """Varnish in front of workers[0] (None when varnishd is missing outside CI)."""
    report: SeedReport
    database_url: str
    schema: str
    namespace: str

    @property
    def urls(self) -> tuple[str, str]:
        return self.workers[0].url, self.workers[1].url

    def auth(self, user: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.report.tokens[user]}"}

    def item(self, index: int) -> str:
        content_type, content_id = self.report.items[index]
        return f"/contents/{content_type}/{content_id}"

    def engine(self) -> AsyncEngine:
        """An engine on the deployment's schema, for checks behind the application's back."""
        return create_engine(self.database_url, schema=self.schema, pool_size=2, max_overflow=0)

    def require_edge(self) -> str:
        if self.edge is not None:
            return self.edge
        if service_required():
            pytest.fail("varnishd is not installed and CI=true: run scripts/system-packages")
        pytest.skip("varnishd is not installed (scripts/system-packages)")


async def _seed(url: str, schema: str) -> SeedReport:
    engine = create_engine(url, schema=schema, pool_size=2, max_overflow=0)
    try:
        await create_schema(engine, optimised=True, schema=schema)
        return await seed(engine, SIZES)
    finally:
        await engine.dispose()


async def _drop(url: str, schema: str) -> None:
    engine = create_engine(url, schema=schema, pool_size=1, max_overflow=0)
    try:
        await drop_schema(engine, schema=schema)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def deployment(
    postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    suffix = uuid.uuid4().hex[:12]
    schema, namespace = f"e2e_{suffix}", f"e2e-{suffix}"
    ports = [free_port(), free_port()]
    with contextlib.ExitStack() as stack:
        patterns = (f"{{{namespace}:*", f"{{{namespace}}}*", f"{namespace}:*")
        stack.callback(delete_keys, redis_url, *patterns)
        stack.callback(lambda: asyncio.run(_drop(postgres_url, schema)))
        report = asyncio.run(_seed(postgres_url, schema))
        edge = stack.enter_context(varnish(ports[0])) if varnishd_binary() else None
        environment = {
            "OVERDRIVE_DATABASE_URL": postgres_url,
            "OVERDRIVE_REDIS_URL": redis_url,
            "OVERDRIVE_DB_SCHEMA": schema,
            "OVERDRIVE_CACHE_NAMESPACE": namespace,
            "OVERDRIVE_SECRET_KEY": SECRET,
            # 2 workers x 12 connections: room for the race without crowding a shared server.
            "OVERDRIVE_POOL_SIZE": "6",
            "OVERDRIVE_MAX_OVERFLOW": "6",
        }
        if edge is not None:  # both workers purge the edge, whichever takes the write
            environment["OVERDRIVE_VARNISH_URL"] = edge
        logs = tmp_path_factory.mktemp("workers")
        first, second = stack.enter_context(uvicorn_workers(ports, environment, logs))
        yield Deployment((first, second), edge, report, postgres_url, schema, namespace)


def http_client(base_url: str) -> httpx.AsyncClient:
    """A client that drops idle connections well before the servers do (uvicorn and
    Varnish close them after 5 s): reusing one the server is closing fails the request."""
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=60, keepalive_expiry=1.0)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0)


@pytest.fixture
async def clients(deployment: Deployment) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """One HTTP client per worker, in worker order."""
    async with contextlib.AsyncExitStack() as stack:
        made = [
            await stack.enter_async_context(http_client(url)) for url in deployment.urls
        ]
        yield tuple(made)


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 5.0) -> None:
    """Poll `check` until it stops raising AssertionError: invalidation reaches the other
    worker over Redis asynchronously. The last failure is re-raised at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            await check()
            return
        except AssertionError:
            if loop.time() > deadline:
                raise
        await asyncio.sleep(0.05)
