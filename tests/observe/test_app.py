"""Observability mounted on a Starlette app, driven in process through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from overdrive.errors import ConfigurationError
from overdrive.observe import HealthCheck, Observability
from overdrive.observe.rules import AlertRule
from overdrive.slo import Objectives

TOKEN = "s3cret-token-0123456789"


class RecordingCache:
    """A stats source shaped like overdrive.Cache.stats(), counting what it is asked."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.calls = 0

    async def get(self, key: str) -> str | None:
        if key.startswith("hot"):
            self.hits += 1
            return "value"
        self.misses += 1
        return None

    def stats(self) -> dict[str, Any]:
        self.calls += 1
        return {"l1": {"hits": self.hits, "misses": self.misses, "evictions": 2,
                       "bytes_used": 1024, "bytes_max": 4096},
                "loader_runs": self.misses, "invalidations": 3, "circuit": "closed"}


class RecordingInsight:
    def stats(self) -> dict[str, Any]:
        return {"statements": 12, "slow_statements": 1, "n_plus_one": 1,
                "pool": {"in_use": 1, "size": 5}}

    def slow_queries(self) -> list[Any]:
        return [{"sql": "SELECT * FROM items WHERE title LIKE $1", "ms": 812.0,
                 "plan": "Seq Scan on items"}]

    def n_plus_one_reports(self) -> list[Any]:
        return [{"route": "/items/{item_id}", "statement": "SELECT * FROM tags WHERE item_id=$1",
                 "count": 25}]


def build_app(cache: RecordingCache) -> Starlette:
    async def item(request: Request) -> JSONResponse:
        key = "hot" if int(request.path_params["item_id"]) % 4 else "cold"
        await cache.get(key)
        return JSONResponse({"id": request.path_params["item_id"]})

    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("boom")

    async def admin(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/items/{item_id:int}", item),
        Route("/boom", boom),
        Mount("/admin", routes=[Route("/users/{name}", admin)]),
    ])


Factory = Callable[..., Observability]


@pytest.fixture
async def make() -> AsyncIterator[Factory]:
    created: list[Observability] = []

    def factory(**options: Any) -> Observability:
        cache = options.pop("cache", RecordingCache())
        options.setdefault("objectives", Objectives())
        observability = Observability(build_app(cache), cache=cache, **options)
        created.append(observability)
        return observability

    yield factory
    for observability in created:
        await observability.aclose()


def client(app: Observability, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_red_metrics_use_route_templates(make: Factory) -> None:
    """Counts and latency are labelled by template, mounts included, never by raw path."""
    app = make()
    async with client(app) as http:
        for item in range(8):
            assert (await http.get(f"/items/{item}")).status_code == 200
        assert (await http.get("/boom")).status_code == 500
        assert (await http.get("/admin/users/ann")).status_code == 200
        assert (await http.get("/nowhere/42")).status_code == 404
        body = (await http.get("/metrics")).text
    values = samples(body)
    key = ("overdrive_http_requests_total",
           (("method", "GET"), ("route", "/items/{item_id}"), ("status", "200")))
    assert values[key] == 8
    assert values[("overdrive_http_requests_total",
                   (("method", "GET"), ("route", "/boom"), ("status", "500")))] == 1
    assert values[("overdrive_http_requests_total",
                   (("method", "GET"), ("route", "/admin/users/{name}"), ("status", "200")))] == 1
    assert values[("overdrive_http_requests_total",
                   (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))] == 1
    assert not any("/items/3" in str(labels) for _, labels in values)
    buckets = [labels for name, labels in values
               if name == "overdrive_http_request_duration_seconds_bucket"
               and ("route", "/items/{item_id}") in labels]
    les = sorted(float(dict(labels)["le"]) for labels in buckets)
    assert les[0] == 0.001
    assert les[-2:] == [10.0, float("inf")]
    assert values[("overdrive_http_requests_in_flight", ())] == 0


async def test_cache_and_database_sources_become_metrics(make: Factory) -> None:
    """cache.stats() and insight.stats() are copied as monotonic counters and gauges."""
    cache = RecordingCache()
    app = make(cache=cache, insight=RecordingInsight())
    async with client(app) as http:
        for item in range(8):
            await http.get(f"/items/{item}")
        first = samples((await http.get("/metrics")).text)
        await http.get("/items/5")
        second = samples((await http.get("/metrics")).text)
    hit = ("overdrive_cache_requests_total", (("result", "hit"), ("tier", "l1")))
    miss = ("overdrive_cache_requests_total", (("result", "miss"), ("tier", "l1")))
    assert (first[hit], first[miss]) == (6, 2)
    assert second[hit] == 7
    assert second[("overdrive_cache_bytes_max", (("tier", "l1"),))] == 4096
    assert second[("overdrive_cache_invalidations_total", ())] == 3
    assert second[("overdrive_db_statements_total", ())] == 12
    assert second[("overdrive_db_pool_size", ())] == 5
    assert second[("overdrive_process_resident_memory_bytes", ())] > 10_000_000


async def test_a_failing_source_does_not_break_the_scrape(make: Factory) -> None:
    """A source that raises is skipped and counted; /metrics still answers."""

    class Broken(RecordingCache):
        def stats(self) -> dict[str, Any]:
            raise RuntimeError("down")

    app = make(cache=Broken())
    async with client(app) as http:
        assert (await http.get("/metrics")).status_code == 200
    assert app.bridge.errors >= 1


async def test_token_and_ip_allow_list_protect_metrics_and_dashboard(make: Factory) -> None:
    """Without the token or an allowed address: 401; health stays open for probes."""
    app = make(token=TOKEN, allow_ips=["10.0.0.0/8"])
    async with client(app, ip="192.0.2.7") as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/_overdrive/feed.json")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get("/metrics", headers=wrong)).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
                ).status_code == 200
        assert (await http.get(f"/_overdrive/feed.json?token={TOKEN}")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
    async with client(app, ip="10.1.2.3") as http:
        assert (await http.get("/metrics")).status_code == 200


def test_weak_tokens_and_bad_networks_are_refused() -> None:
    """A short token or an unparsable network is a configuration error."""
    with pytest.raises(ConfigurationError, match="16 characters"):
        Observability(build_app(RecordingCache()), token="short", objectives=Objectives())
    with pytest.raises(ConfigurationError, match="allow_ips"):
        Observability(build_app(RecordingCache()), allow_ips=["10.0.0.300/8"],
                      objectives=Objectives())


async def test_dashboard_page_assets_and_feed(make: Factory) -> None:
    """The page, its script and style are served offline; the feed has every panel's data."""
    app = make(insight=RecordingInsight(), metrics_path="/internal/metrics",
               dashboard_path="/ops")
    async with client(app) as http:
        for item in range(20):
            await http.get(f"/items/{item}")
        page = await http.get("/ops")
        assert page.status_code == 200
        assert 'src="/ops/app.js"' in page.text
        assert "http" not in page.text.split("<body", 1)[1].replace('http-equiv', '')
        script = await http.get("/ops/app.js")
        assert script.headers["content-type"] == "text/javascript"
        assert "feed.json" in script.text
        assert (await http.get("/ops/style.css")).status_code == 200
        assert (await http.get("/ops/missing.js")).status_code == 404
        assert (await http.get("/internal/metrics")).status_code == 200
        feed = (await http.get("/ops/feed.json")).json()
    assert feed["summary"]["1m"]["count"] == 20
    assert feed["summary"]["1m"]["p95"] > 0
    assert feed["routes"][0]["route"] == "/items/{item_id}"
    assert len(feed["series"]) == 30
    assert feed["targets"]["latency_p95"] == 0.5
    assert feed["cache"]["hit_ratio"]["l1"] == pytest.approx(15 / 20)
    assert feed["db"]["slow_queries"][0]["plan"] == "Seq Scan on items"
    assert feed["db"]["n_plus_one_reports"][0]["count"] == 25
    assert feed["process"]["resident_memory"] > 0


async def test_firing_alert_reaches_the_feed(make: Factory) -> None:
    """An alert rule breached for its `for` fires and the dashboard feed lists it."""
    rule = AlertRule("AnyTraffic", "request_rate", ">", 0.0, for_=0, severity="info")
    app = make(rules=[rule])
    async with client(app) as http:
        await http.get("/items/1")
        assert await app.evaluate_once()
        feed = (await http.get("/_overdrive/feed.json")).json()
    firing = [a for a in feed["alerts"] if a["name"] == "AnyTraffic"]
    assert firing[0]["state"] == "firing"
    assert firing[0]["annotations"]["summary"].startswith("requests per second > 0/s")


async def test_readiness_reports_degraded_and_down(make: Factory) -> None:
    """Slow optional dependency: degraded (200); failing required one: down (503)."""

    async def fine() -> None:
        return None

    async def slow() -> None:
        await asyncio.sleep(0.05)

    async def broken() -> None:
        raise ConnectionError("refused")

    app = make(readiness={"db": fine, "redis": HealthCheck(slow, required=False, slow_after=0.01)})
    async with client(app) as http:
        response = await http.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"
        assert body["dependencies"]["redis"]["status"] == "degraded"
        assert body["dependencies"]["db"]["latency_ms"] >= 0
    app = make(readiness={"db": broken})
    async with client(app) as http:
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["dependencies"]["db"]["error"] == "ConnectionError: refused"


async def test_requests_reach_prometheus_every_flush_interval_without_a_scrape(
        make: Factory) -> None:
    """The background fold moves tallied requests into the registry on its own timer."""
    app = make(flush_every=0.02)
    requests = app.metrics.registry
    async with client(app) as http:
        # The first request starts the background work, whose first evaluation syncs once.
        assert (await http.get("/admin/users/ann")).status_code == 200
        await asyncio.sleep(0.05)
        for item in range(3):
            assert (await http.get(f"/items/{item}")).status_code == 200
        labels = {"method": "GET", "route": "/items/{item_id}", "status": "200"}
        assert requests.get_sample_value("overdrive_http_requests_total", labels) is None
        for _ in range(25):  # up to 0.5 s, half the default interval; the timer fires every 20 ms
            if requests.get_sample_value("overdrive_http_requests_total", labels):
                break
            await asyncio.sleep(0.02)
    assert requests.get_sample_value("overdrive_http_requests_total", labels) == 3
    assert app.tally.groups == {}


async def test_lifespan_starts_and_stops_background_work(make: Factory) -> None:
    """Startup starts the sampler; shutdown stops it and passes the messages on."""
    app = make(sample_every=0.01)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        message = messages.pop(0)
        if message["type"] == "lifespan.shutdown":
            await asyncio.sleep(0.05)
            assert app.started
            assert app.sampler.resident_memory > 0
        return message

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not app.started


async def test_only_the_lease_holder_evaluates_and_everyone_sees_its_alerts(
    make: Factory, tmp_path: Any,
) -> None:
    """Two workers, one flock lease: one evaluates and publishes, the other's feed shows it."""
    from overdrive.observe.coordination import FileBoard, FileLease

    rule = AlertRule("AnyTraffic", "request_rate", ">", 0.0, for_=0)
    workers = [make(rules=[rule], lease=FileLease(tmp_path / "lease"),
                    board=FileBoard(tmp_path / "alerts.json")) for _ in range(2)]
    async with client(workers[0]) as http:
        await http.get("/items/1")
    assert await workers[0].evaluate_once()
    assert not await workers[1].evaluate_once()
    async with client(workers[1]) as http:
        feed = (await http.get("/_overdrive/feed.json")).json()
    assert [a["name"] for a in feed["alerts"]] == ["AnyTraffic"]


async def test_a_firing_alert_posts_one_webhook_message(make: Factory) -> None:
    """Evaluated again and again, a firing alert reaches the webhook once."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rule = AlertRule("AnyTraffic", "request_rate", ">", 0.0, for_=0, severity="page")
        app = make(rules=[rule], webhooks=[f"http://127.0.0.1:{server.server_address[1]}/"])
        async with client(app) as http:
            await http.get("/items/1")
        for _ in range(3):
            await app.evaluate_once()
    finally:
        server.shutdown()
        server.server_close()
    headlines = [m["text"].split(":")[0] for m in received]
    assert headlines == ["[FIRING] AnyTraffic (page) on overdrive"]
