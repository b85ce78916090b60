"""Liveness and readiness: `/healthz` says the process answers, `/readyz` says it can serve.

Readiness runs every dependency check at once, each under a timeout, and reports per
dependency its status and latency. A dependency that answers slowly is *degraded*; one
that fails is *down*. The service is down (503) only when a *required* dependency is
down: with the cache's graceful degradation a Redis outage makes the service degraded,
not unready, and taking it out of the load balancer would turn a slowdown into an outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["HealthCheck", "Readiness", "database_check", "redis_check"]

Probe = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class HealthCheck:
    """One dependency: its probe, whether the service needs it, when it counts as slow."""

    probe: Probe
    required: bool = True
    slow_after: float = 0.25


class Readiness:
    """Runs the checks concurrently and answers `(http_status, json_body)`."""

    def __init__(self, checks: Mapping[str, HealthCheck | Probe], timeout: float = 2.0) -> None:
        self.checks = {name: check if isinstance(check, HealthCheck) else HealthCheck(check)
                       for name, check in checks.items()}
        self.timeout = timeout

    async def _run(self, check: HealthCheck) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check.probe(), self.timeout)
        except TimeoutError:
            return {"status": "down", "latency_ms": round(self.timeout * 1000, 3),
                    "error": f"no answer within {self.timeout:g}s", "required": check.required}
        except Exception as error:  # any failure of a dependency is "down", with its reason
            return {"status": "down", "latency_ms": _elapsed_ms(started),
                    "error": f"{type(error).__name__}: {error}", "required": check.required}
        latency = _elapsed_ms(started)
        status = "degraded" if latency > check.slow_after * 1000 else "up"
        return {"status": status, "latency_ms": latency, "required": check.required}

    async def report(self) -> tuple[int, dict[str, Any]]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[name]) for name in names))
        dependencies = dict(zip(names, results, strict=True))
        if any(r["status"] == "down" and r["required"] for r in results):
            status, code = "down", 503
        elif any(r["status"] != "up" for r in results):
            status, code = "degraded", 200
        else:
            status, code = "up", 200
        return code, {"status": status, "dependencies": dependencies}


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def redis_check(client: Any) -> Probe:
    """A probe that PINGs a `redis.asyncio.Redis` client."""

    async def ping() -> None:
        if not await client.ping():
            raise ConnectionError("PING was not answered with PONG")

    return ping


def database_check(engine: Any) -> Probe:
    """A probe that runs `SELECT 1` on a SQLAlchemy `AsyncEngine`."""

    async def select_one() -> None:
        from sqlalchemy import text

        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return select_one
