"""RED middleware at the raw ASGI level: templates from any framework, errors, other scopes."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from overdrive.observe.metrics import OverdriveMetrics
from overdrive.observe.red import UNMATCHED_ROUTE, RedMiddleware, route_template
from overdrive.observe.sketches import LatencyWindows
from overdrive.types import Message, Receive, Scope, Send


async def receive() -> Message:
    return {"type": "http.request", "body": b""}


def test_litestar_path_template_is_used() -> None:
    """Litestar writes the matched template to scope["path_template"]."""
    assert route_template({"path_template": "/users/{user_id:int}"}) == "/users/{user_id:int}"
    assert route_template({}) == UNMATCHED_ROUTE


async def test_an_exception_counts_as_500_and_in_flight_returns_to_zero() -> None:
    """An app that raises is recorded as a 500 of its route; the error still propagates."""

    class Route:
        path_format = "/boom/{x}"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route()
        raise RuntimeError("boom")

    metrics = OverdriveMetrics(CollectorRegistry())
    windows = LatencyWindows()
    middleware = RedMiddleware(app, metrics.http, windows)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError):
        await middleware({"type": "http", "method": "POST", "path": "/boom/1"}, receive, send)
    middleware.tally.flush()
    value = metrics.registry.get_sample_value(
        "overdrive_http_requests_total", {"method": "POST", "route": "/boom/{x}", "status": "500"})
    assert value == 1
    assert metrics.registry.get_sample_value("overdrive_http_requests_in_flight") == 0
    assert windows.summary(60, "/boom/{x}").errors == 1


async def test_websocket_and_lifespan_scopes_pass_through_unmeasured() -> None:
    """Only HTTP requests are counted."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    metrics = OverdriveMetrics(CollectorRegistry())
    middleware = RedMiddleware(app, metrics.http, LatencyWindows())

    async def send(message: Any) -> None:
        return None

    await middleware({"type": "websocket", "path": "/ws"}, receive, send)
    assert middleware.tally.groups == {}
    middleware.tally.flush()
    assert seen == ["websocket"]
    assert metrics.registry.get_sample_value("overdrive_http_requests_total",
                                             {"method": "GET", "route": "/ws",
                                              "status": "101"}) is None


async def test_requests_land_in_the_slot_they_started_in_whatever_the_flush_time() -> None:
    """Flushed 25 s later, a request still counts in its own 10 s slot, with its latency."""

    class Clocks:
        wall = 1_000_000.0
        perf = 50.0

    class Route:
        path_format = "/a"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route()
        Clocks.wall += 0.2
        Clocks.perf += 0.2
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    metrics = OverdriveMetrics(CollectorRegistry())
    windows = LatencyWindows(clock=lambda: Clocks.wall)
    middleware = RedMiddleware(app, metrics.http, windows, clock=lambda: Clocks.perf)

    async def send(message: Message) -> None:
        return None

    await middleware({"type": "http", "method": "GET", "path": "/a"}, receive, send)
    Clocks.wall += 25
    Clocks.perf += 25
    middleware.tally.flush()
    assert set(windows.by_slot) == {100_000}
    assert windows.summary(60, "/a").p50 == pytest.approx(0.2, rel=0.011)
    assert metrics.registry.get_sample_value(
        "overdrive_http_request_duration_seconds_bucket",
        {"method": "GET", "route": "/a", "le": "0.25"}) == 1


async def test_one_flush_spanning_two_slots_puts_each_request_in_its_own() -> None:
    """Requests of one flush that started either side of a slot boundary keep their slots."""

    class Clocks:
        wall = 1_000_008.0
        perf = 50.0

    class Route:
        path_format = "/a"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route()
        status = 500 if scope["path"] == "/fail" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    metrics = OverdriveMetrics(CollectorRegistry())
    windows = LatencyWindows(clock=lambda: Clocks.wall)
    middleware = RedMiddleware(app, metrics.http, windows, clock=lambda: Clocks.perf)

    async def send(message: Message) -> None:
        return None

    for path in ("/ok", "/fail"):
        await middleware({"type": "http", "method": "GET", "path": path}, receive, send)
    Clocks.wall += 4
    Clocks.perf += 4
    for path in ("/ok", "/ok", "/fail"):
        await middleware({"type": "http", "method": "GET", "path": path}, receive, send)
    middleware.tally.flush()
    assert sorted(windows.by_slot) == [100_000, 100_001]
    assert windows.by_slot[100_000]["/a"].count == 2
    assert windows.by_slot[100_000]["/a"].errors == 1
    assert windows.by_slot[100_001]["/a"].count == 3
    assert windows.by_slot[100_001]["/a"].errors == 1
    assert metrics.registry.get_sample_value(
        "overdrive_http_requests_total", {"method": "GET", "route": "/a", "status": "200"}) == 3
    assert metrics.registry.get_sample_value(
        "overdrive_http_requests_total", {"method": "GET", "route": "/a", "status": "500"}) == 2
