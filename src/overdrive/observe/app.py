"""`Observability`: metrics, dashboard, alerts and health around any ASGI application.

    app = FastAPI()
    app.add_middleware(Observability, cache=cache, insight=insight, token="...")
    # or: app = Observability(app, slo_file="overdrive.toml", redis_url="redis://...")

Serves `/metrics`, `/_overdrive` (page, assets, `feed.json`), `/healthz` and `/readyz`,
times every other request per route template, samples the process, and elects one alert
evaluator per deployment. Background work starts with the ASGI lifespan (or the first
request when the server runs without one) and stops at shutdown or `aclose()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from overdrive.observe.access import AccessPolicy
from overdrive.observe.alerts import AlertEvaluator
from overdrive.observe.coordination import (
    AlertBoard,
    FileBoard,
    FileLease,
    Lease,
    MemoryBoard,
    ProcessLease,
)
from overdrive.observe.feed import DashboardFeed
from overdrive.observe.health import HealthCheck, Probe, Readiness
from overdrive.observe.measurements import Measurements
from overdrive.observe.metrics import OverdriveMetrics
from overdrive.observe.multiprocess import MultiprocessDirectory
from overdrive.observe.notify import AlertNotifier, SeenStore
from overdrive.observe.process import ProcessSampler
from overdrive.observe.red import Group, RequestTally
from overdrive.observe.rules import AlertRule
from overdrive.observe.shared_windows import SharedWindows
from overdrive.observe.sketches import LatencyWindows
from overdrive.observe.sources import CacheStatsSource, InsightSource, StatsBridge
from overdrive.routes import effective_route, known_template
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # slo imports the rule catalogue from this package
    from overdrive.observe.database import EngineInstrument
    from overdrive.slo import Objectives

__all__ = ["Observability"]

logger = logging.getLogger("overdrive.observe")
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}


def _asset(name: str) -> bytes:
    return resources.files("overdrive.observe").joinpath("static", name).read_bytes()


async def _respond(send: Send, status: int, body: bytes, content_type: str,
                   extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"), *extra]})
    await send({"type": "http.response.body", "body": body})


class Observability:
    """Pure ASGI: wraps `app`, answers its own paths, measures the rest. See module docs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        objectives: Objectives | None = None,
        slo_file: str | Path | None = None,
        rules: Sequence[AlertRule] = (),
        cache: CacheStatsSource | None = None,
        insight: InsightSource | None = None,
        engines: Sequence[Any] = (),
        metrics_path: str = "/metrics",
        dashboard_path: str = "/_overdrive",
        health_path: str = "/healthz",
        ready_path: str = "/readyz",
        token: str | None = None,
        allow_ips: Sequence[str] = (),
        multiprocess_dir: str | Path | None = None,
        redis_url: str | None = None,
        namespace: str = "overdrive",
        readiness: Mapping[str, HealthCheck | Probe] | None = None,
        webhooks: Sequence[str] = (),
        service: str = "overdrive",
        evaluate_every: float = 5.0,
        sample_every: float = 0.5,
        flush_every: float = 1.0,
        lease: Lease | None = None,
        board: AlertBoard | None = None,
        seen: SeenStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from overdrive.slo import load_objectives

        self.app = app
        self.objectives = objectives if objectives is not None else load_objectives(slo_file)
        self.access = AccessPolicy(token, allow_ips)
        self.metrics_path = metrics_path
        self.dashboard_path = dashboard_path.rstrip("/")
        self.health_path = health_path
        self.ready_path = ready_path
        self.evaluate_every = evaluate_every
        # Requests are tallied in process and folded into Prometheus values and the latency
        # sketches this often (and before every scrape, feed and evaluation).
        self.flush_every = flush_every
        # The hot path asks one set and one prefix whether a request is ours.
        self.own_paths = frozenset({metrics_path, self.dashboard_path, health_path, ready_path})
        self.dashboard_prefix = self.dashboard_path + "/"

        directory = (MultiprocessDirectory(multiprocess_dir) if multiprocess_dir is not None
                     else MultiprocessDirectory.from_environment())
        self.directory = directory.activate() if directory is not None else None
        self.metrics = OverdriveMetrics()
        self.windows = LatencyWindows(clock=clock)
        self.shared = SharedWindows(self.windows, self.directory.path if self.directory else None)
        self.tally = RequestTally(self.metrics.http, self.windows)
        self.sampler = ProcessSampler(self.metrics.process, interval=sample_every)
        self.bridge = StatsBridge(self.metrics.cache, self.metrics.db, cache, insight)
        self.engines: EngineInstrument | None = None
        if engines:
            from overdrive.observe.database import EngineInstrument

            self.engines = EngineInstrument(self.metrics.db, engines)
        collect = (self.directory.registry().collect if self.directory is not None
                   else self.metrics.registry.collect)
        self.measurements = Measurements(self.shared, self._locked(collect),
                                         self.objectives.memory_limit, clock)
        self.feed = DashboardFeed(self.measurements, self.objectives, insight, service, clock)
        self.evaluator = AlertEvaluator([*self.objectives.alert_rules(), *rules],
                                        self.measurements.value, clock)

        self.redis: Any = None
        if redis_url is not None:
            import redis.asyncio

            from overdrive.observe.redis_coordination import RedisBoard, RedisLease, RedisSeen

            self.redis = redis.asyncio.Redis.from_url(redis_url, socket_timeout=1.0)
            lease = lease or RedisLease(self.redis, f"{namespace}:observe:evaluator")
            board = board or RedisBoard(self.redis, f"{namespace}:observe:alerts")
            seen = seen or RedisSeen(self.redis, f"{namespace}:observe:notified:")
        elif self.directory is not None:
            lease = lease or FileLease(self.directory.path / ".evaluator.lock")
            board = board or FileBoard(self.directory.path / "alerts.json")
        self.lease: Lease = lease or ProcessLease()
        self.board: AlertBoard = board or MemoryBoard()
        self.notifier = AlertNotifier(webhooks, service=service, seen=seen)
        self.readiness = Readiness(readiness or {})
        self.tasks: list[asyncio.Task[None]] = []
        self.started = False

    def attach(self, app: ASGIApp) -> Observability:
        """Wrap `app` instead of the application given at construction; returns self.

        For middleware factories that build the instance before the app it wraps exists.
        """
        self.app = app
        return self

    def _locked(self, collect: Callable[[], Any]) -> Callable[[], Any]:
        if self.directory is None:
            return collect
        directory = self.directory

        def read() -> Any:
            with directory.locked(exclusive=False):
                return list(collect())

        return read

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the background tasks in the running loop (idempotent)."""
        if self.started:
            return
        self.started = True
        if self.directory is not None:
            removed = self.directory.compact()
            if removed:
                logger.info("folded %d metric files of dead workers into the archive", removed)
        self.sampler.sample_resources()
        self.tasks = [asyncio.create_task(coroutine) for coroutine in
                      (self.sampler.run(), self._sync_loop(), self._evaluate_loop())]

    async def aclose(self) -> None:
        """Stop the background tasks, give up the evaluator role, fold this worker's files."""
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []
        self.started = False
        await self.lease.release()
        if self.redis is not None:
            await self.redis.aclose()
        self.sync()
        if self.engines is not None:
            self.engines.close()
            self.engines = None
        self.shared.flush()
        if self.directory is not None:
            self.metrics.process.resident_memory.set(0)
            self.directory.shutdown()

    def sync(self) -> None:
        """Copy this worker's tallies and sources into Prometheus now."""
        self.tally.flush()
        self.bridge.sync()
        if self.engines is not None:
            self.engines.flush()

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every)
            self.sync()
            self.shared.flush()

    async def _evaluate_loop(self) -> None:
        while True:
            try:
                await self.evaluate_once()
            except Exception:  # the evaluator must outlive any one bad reading
                logger.exception("alert evaluation failed")
            await asyncio.sleep(self.evaluate_every)

    async def evaluate_once(self) -> bool:
        """If this worker holds the lease: evaluate, notify, publish. True when it did."""
        if not await self.lease.hold():
            return False
        self.sync()
        self.measurements.refresh()
        for transition in self.evaluator.evaluate():
            await self.notifier.notify(transition)
        await self.board.publish([status.to_json() for status in self.evaluator.active()])
        if self.directory is not None:
            self.directory.compact()
        return True

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(scope, receive, send)
                return
            if not self.started:
                self.start()
            await self.app(scope, receive, send)
            return
        if not self.started:
            self.start()
        path = scope["path"]
        if path not in self.own_paths and not path.startswith(self.dashboard_prefix):
            # RedMiddleware's body, inlined: one coroutine frame less on every request.
            status = 500  # unless the application starts a response

            def responder(message: Message) -> Awaitable[None]:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                return send(message)

            root_path = scope.get("root_path", "")
            tally = self.tally
            tally.in_flight += 1
            started = perf_counter()
            try:
                await self.app(scope, receive, responder)
            finally:
                # RequestTally.record (and routes.matched_route), inlined: the call was
                # ~1,800 of ~14,000 instructions.
                route = scope.get("route")
                fastapi = scope.get("fastapi")
                if fastapi is not None:
                    route = effective_route(fastapi, route)
                key = (id(route), None if route is not None else known_template(scope),
                       root_path, scope.get("root_path", ""), scope["method"], status)
                group = tally.groups.get(key)
                if group is None:
                    group = tally.groups[key] = Group(route, scope.get("router"))
                group.starts.append(started)
                durations = group.durations
                durations.append(perf_counter() - started)
                if len(durations) >= tally.FLUSH_AT:
                    tally.flush()
        elif path == self.metrics_path:
            await self._guarded(scope, send, self._metrics)
        elif path == self.dashboard_path or path.startswith(self.dashboard_prefix):
            await self._guarded(scope, send, self._dashboard)
        elif path == self.health_path:
            await _respond(send, 200, b'{"status":"up"}', "application/json")
        elif path == self.ready_path:
            code, body = await self.readiness.report()
            await _respond(send, code, json.dumps(body).encode(), "application/json")

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_and_react() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
            return message

        await self.app(scope, receive_and_react, send)

    async def _guarded(self, scope: Scope, send: Send,
                       handler: Callable[[Scope, Send], Any]) -> None:
        if not self.access.allows(scope):
            await _respond(send, 401, b"unauthorized\n", "text/plain; charset=utf-8",
                           [(b"www-authenticate", b'Bearer realm="overdrive"')])
            return
        await handler(scope, send)

    async def _metrics(self, scope: Scope, send: Send) -> None:
        self.sync()
        body = (self.directory.exposition() if self.directory is not None
                else generate_latest(self.metrics.registry))
        await _respond(send, 200, body, CONTENT_TYPE_LATEST)

    async def _dashboard(self, scope: Scope, send: Send) -> None:
        rest = scope["path"][len(self.dashboard_path):].lstrip("/")
        if rest in ("", "index.html"):
            page = _asset("index.html").replace(b"{{BASE}}", self.dashboard_path.encode())
            await _respond(send, 200, page, "text/html; charset=utf-8")
        elif rest in ASSETS:
            await _respond(send, 200, _asset(rest), ASSETS[rest])
        elif rest == "feed.json":
            self.sync()
            alerts = await self.board.read()
            if alerts is None:
                alerts = [status.to_json() for status in self.evaluator.active()]
            body = json.dumps(self.feed.build(alerts), default=str).encode()
            await _respond(send, 200, body, "application/json")
        else:
            await _respond(send, 404, b"not found\n", "text/plain; charset=utf-8")
