"""RFC 9111 semantics of the response cache, one behaviour per test (in process, ASGITransport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from overdrive import Cache, ResponseCacheMiddleware
from overdrive.types import Receive, Scope, Send
from tests.http.conftest import FakeClock, Origin, asgi_get, client_for


@pytest.fixture
def middleware(origin: Origin, memory_cache: Cache, clock: FakeClock) -> ResponseCacheMiddleware:
    return ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock)


async def test_second_request_is_a_hit_that_never_enters_the_app(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """A stored response answers the next request before the application runs."""
    async with client_for(middleware) as client:
        first = await client.get("/items")
        second = await client.get("/items")
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.content == first.content
    assert origin.calls == 1


async def test_age_is_time_since_storage_not_remaining_ttl(
    middleware: ResponseCacheMiddleware, clock: FakeClock
) -> None:
    """Age counts seconds since the response was stored (RFC 9111 §5.1)."""
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(7)
        response = await client.get("/items")
    assert response.headers["age"] == "7"


async def test_entry_expires_after_s_maxage(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """Past its freshness lifetime the entry is not served: the origin answers again."""
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(61)
        response = await client.get("/items")
    assert response.headers["x-cache"] == "MISS"
    assert origin.calls == 2


async def test_s_maxage_wins_over_max_age(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """A shared cache uses s-maxage when both are present (RFC 9111 §5.2.2.10)."""
    origin.headers["cache-control"] = "public, max-age=5, s-maxage=100"
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(50)
        response = await client.get("/items")
    assert response.headers["x-cache"] == "HIT"


async def test_max_age_alone_gives_the_lifetime(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """Without s-maxage, max-age is the freshness lifetime."""
    origin.headers["cache-control"] = "max-age=10"
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(5)
        assert (await client.get("/items")).headers["x-cache"] == "HIT"
        clock.advance(6)
        assert (await client.get("/items")).headers["x-cache"] == "MISS"


@pytest.mark.parametrize(
    "cache_control",
    ["no-store, s-maxage=60", "private, max-age=60", "no-cache, s-maxage=60", "public",
     "s-maxage=abc", ""],
)
async def test_responses_without_permission_are_not_stored(
    middleware: ResponseCacheMiddleware, origin: Origin, cache_control: str
) -> None:
    """no-store, private, no-cache, no or unreadable lifetime: never stored (RFC 9111 §3)."""
    origin.headers["cache-control"] = cache_control
    async with client_for(middleware) as client:
        await client.get("/items")
        response = await client.get("/items")
    assert response.headers["x-cache"] == "MISS"
    assert origin.calls == 2


async def test_set_cookie_responses_are_not_stored(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """A response setting a cookie is never replayed to another client."""
    origin.extra_headers = [("set-cookie", "session=abc")]
    async with client_for(middleware) as client:
        await client.get("/items")
        response = await client.get("/items")
    assert origin.calls == 2
    assert response.headers["set-cookie"] == "session=abc"


@pytest.mark.parametrize(("status", "stored"), [(200, True), (404, True), (410, True),
                                                (201, False), (302, False), (500, False),
                                                (503, False), (206, False)])
async def test_only_heuristically_cacheable_statuses_are_stored(
    middleware: ResponseCacheMiddleware, origin: Origin, status: int, stored: bool
) -> None:
    """Statuses outside RFC 9110 §15.1's cacheable-by-default list are not stored."""
    origin.status = status
    async with client_for(middleware) as client:
        await client.get("/items")
        await client.get("/items")
    assert origin.calls == (1 if stored else 2)


async def test_vary_keeps_one_variant_per_header_value(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Responses with Vary are stored per value of the named request headers (§4.1)."""
    origin.headers["vary"] = "Accept-Language"
    origin.body = lambda scope: dict(scope["headers"]).get(b"accept-language", b"none")
    async with client_for(middleware) as client:
        english = await client.get("/items", headers={"accept-language": "en"})
        french = await client.get("/items", headers={"accept-language": "fr"})
        english_again = await client.get("/items", headers={"accept-language": "en"})
        french_again = await client.get("/items", headers={"accept-language": "fr"})
    assert (english.content, french.content) == (b"en", b"fr")
    assert english_again.content == b"en"
    assert french_again.content == b"fr"
    assert french_again.headers["x-cache"] == "HIT"
    assert origin.calls == 2


async def test_vary_star_is_never_stored(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Vary: * means no request can ever match: not stored."""
    origin.headers["vary"] = "*"
    async with client_for(middleware) as client:
        await client.get("/items")
        await client.get("/items")
    assert origin.calls == 2


async def test_query_order_does_not_split_the_cache(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """The query string is normalised: ?b=2&a=1 and ?a=1&b=2 are one entry."""
    async with client_for(middleware) as client:
        await client.get("/items?b=2&a=1")
        response = await client.get("/items?a=1&b=2")
        other = await client.get("/items?a=1&b=3")
    assert response.headers["x-cache"] == "HIT"
    assert other.headers["x-cache"] == "MISS"


async def test_host_is_part_of_the_key(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Two virtual hosts never share an entry."""
    async with client_for(middleware) as client:
        await client.get("http://a.example/items")
        response = await client.get("http://b.example/items")
    assert response.headers["x-cache"] == "MISS"


async def test_unsafe_methods_pass_through_and_are_not_stored(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """POST reaches the application every time."""
    async with client_for(middleware) as client:
        await client.post("/items")
        response = await client.post("/items")
    assert origin.calls == 2
    assert response.headers["x-cache"] == "BYPASS"


async def test_head_is_answered_from_the_stored_get(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """HEAD after GET is a hit with the GET's headers and no body."""
    async with client_for(middleware) as client:
        got = await client.get("/items")
        head = await client.head("/items")
    assert head.headers["x-cache"] == "HIT"
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert origin.calls == 1


async def test_stored_body_gets_a_strong_etag_and_if_none_match_answers_304(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Hits carry a strong ETag; a matching If-None-Match gets 304 without a body."""
    async with client_for(middleware) as client:
        first = await client.get("/items")
        etag = first.headers["etag"]
        revalidated = await client.get("/items", headers={"if-none-match": etag})
        other = await client.get("/items", headers={"if-none-match": '"nope"'})
    assert etag.startswith('"')
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["etag"] == etag
    assert other.status_code == 200
    assert origin.calls == 1


async def test_pass_through_responses_with_an_etag_answer_304(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """A response that is not stored but carries an ETag still honours If-None-Match."""
    origin.headers = {"content-type": "text/plain", "etag": '"v1"', "cache-control": "no-store"}
    async with client_for(middleware) as client:
        response = await client.get("/items", headers={"if-none-match": 'W/"v1"'})
    assert response.status_code == 304
    assert response.content == b""


async def test_concurrent_misses_reach_the_application_once(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Request coalescing: a burst of misses for one key runs the application once."""
    origin.delay = 0.05
    async with client_for(middleware) as client:
        responses = await asyncio.gather(*(client.get("/items") for _ in range(20)))
    assert origin.calls == 1
    assert all(response.status_code == 200 for response in responses)
    assert len({response.content for response in responses}) == 1


async def test_surrogate_key_tags_are_invalidated_by_the_cache(
    middleware: ResponseCacheMiddleware, origin: Origin, memory_cache: Cache
) -> None:
    """Tags come from Surrogate-Key; invalidating one drops the stored response."""
    origin.headers["surrogate-key"] = "board:main feedback"
    async with client_for(middleware) as client:
        await client.get("/items")
        await memory_cache.invalidate("board:main")
        response = await client.get("/items")
    assert response.headers["x-cache"] == "MISS"
    assert origin.calls == 2


async def test_targeted_field_wins_and_is_stripped(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """Overdrive-Cache-Control (RFC 9213) overrides Cache-Control and never leaves."""
    origin.headers["cache-control"] = "private, max-age=0"
    origin.headers["overdrive-cache-control"] = "s-maxage=60"
    async with client_for(middleware) as client:
        first = await client.get("/items")
        second = await client.get("/items")
    assert second.headers["x-cache"] == "HIT"
    assert "overdrive-cache-control" not in first.headers
    assert "overdrive-cache-control" not in second.headers
    assert second.headers["cache-control"] == "private, max-age=0"


async def test_streaming_responses_pass_through_unbuffered(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """An event stream reaches the client chunk by chunk and is never stored."""
    gate = asyncio.Event()

    async def events(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"public, s-maxage=60")]})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await gate.wait()
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": False})

    middleware = ResponseCacheMiddleware(events, cache=memory_cache, clock=clock)
    received: list[bytes] = []

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.body":
            received.append(message["body"])  # type: ignore[arg-type]
            gate.set()

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/events", "query_string": b"",
             "headers": [(b"host", b"test")]}
    await asyncio.wait_for(middleware(scope, receive, send), timeout=5)
    assert received == [b"data: 1\n\n", b"data: 2\n\n"]
    assert middleware.counters["stored"] == 0


async def test_bodies_over_the_size_limit_are_passed_on_not_stored(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """A body larger than max_body_size is sent whole but not kept."""
    middleware = ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock,
                                         max_body_size=10)

    async def chunked(scope: Scope, receive: Receive, send: Send) -> None:
        origin.calls += 1
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"cache-control", b"public, s-maxage=60")]})
        for _ in range(3):
            await send({"type": "http.response.body", "body": b"x" * 8, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    middleware.app = chunked
    async with client_for(middleware) as client:
        first = await client.get("/big")
        await client.get("/big")
    assert first.content == b"x" * 24
    assert origin.calls == 2


async def test_hit_body_is_the_json_the_app_sent(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """The stored body and content type are replayed byte for byte."""
    async with client_for(middleware) as client:
        await client.get("/items")
        response = await client.get("/items")
    assert response.json() == json.loads(b'{"hello": "world"}')
    assert response.headers["content-type"] == "application/json"


async def test_l2_entry_is_shared_between_two_caches(
    origin: Origin, redis_caches: Callable[[], Cache]
) -> None:
    """A response stored by one process is a hit in another (Redis L2)."""
    async with client_for(ResponseCacheMiddleware(origin, cache=redis_caches())) as client:
        await client.get("/items")
    async with client_for(ResponseCacheMiddleware(origin, cache=redis_caches())) as client:
        response = await client.get("/items")
    assert response.headers["x-cache"] == "HIT"
    assert origin.calls == 1


async def test_expires_gives_the_lifetime_without_max_age(
    middleware: ResponseCacheMiddleware, origin: Origin, clock: FakeClock
) -> None:
    """Expires minus Date is the freshness lifetime when no max-age is given (§5.3)."""
    origin.headers["cache-control"] = "public"
    origin.headers["date"] = "Thu, 01 Jan 2026 00:00:00 GMT"
    origin.headers["expires"] = "Thu, 01 Jan 2026 00:00:30 GMT"
    async with client_for(middleware) as client:
        await client.get("/items")
        clock.advance(20)
        assert (await client.get("/items")).headers["x-cache"] == "HIT"
        clock.advance(20)
        assert (await client.get("/items")).headers["x-cache"] == "MISS"


async def test_invalid_expires_is_not_stored(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """An unparseable Expires (such as "0") means already stale: not stored."""
    origin.headers["cache-control"] = "public"
    origin.headers["expires"] = "0"
    async with client_for(middleware) as client:
        await client.get("/items")
        await client.get("/items")
    assert origin.calls == 2


async def test_uncacheable_keys_are_not_coalesced(
    middleware: ResponseCacheMiddleware, origin: Origin
) -> None:
    """After an unstorable answer, concurrent requests for the key run side by side."""
    origin.headers["cache-control"] = "no-store"
    origin.delay = 0.05
    async with client_for(middleware) as client:
        await client.get("/items")
        await asyncio.gather(*(client.get("/items") for _ in range(5)))
    assert middleware.counters["coalesced"] == 0
    assert origin.calls == 6


async def test_redis_down_still_answers_from_the_origin(origin: Origin, namespace: str) -> None:
    """With the cache's Redis gone, requests are answered (degraded), never failed."""
    from tests.servers import redis_server

    with redis_server() as server:
        cache = Cache(server.url, namespace=namespace, l2_timeout=0.05)
        server.stop()
        try:
            async with client_for(ResponseCacheMiddleware(origin, cache=cache)) as client:
                responses = [await client.get("/items") for _ in range(3)]
        finally:
            await cache.close()
    assert all(response.status_code == 200 for response in responses)
    assert all(response.content == b'{"hello": "world"}' for response in responses)


async def test_cache_errors_degrade_to_the_origin(origin: Origin, namespace: str) -> None:
    """A cache refusing our keys (max_key_length too small) costs hits, never answers."""
    cache = Cache(namespace=namespace, max_key_length=8)
    middleware = ResponseCacheMiddleware(origin, cache=cache)
    async with client_for(middleware) as client:
        responses = [await client.get("/items") for _ in range(2)]
    await cache.close()
    assert [response.status_code for response in responses] == [200, 200]
    assert middleware.counters["errors"] >= 2


async def test_app_that_never_sends_a_body_still_completes(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """A storable start with no body message: the client gets the start and an empty body."""

    async def headless(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"cache-control", b"public, s-maxage=60")]})

    middleware = ResponseCacheMiddleware(headless, cache=memory_cache, clock=clock)
    sent = await asgi_get(middleware, "/")
    assert [message["type"] for message in sent] == ["http.response.start",
                                                     "http.response.body"]
    assert middleware.counters["stored"] == 0


async def test_pathsend_responses_pass_through_unstored(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """A storable start followed by http.response.pathsend is forwarded, start first."""

    async def file_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"cache-control", b"public, s-maxage=60")]})
        await send({"type": "http.response.pathsend", "path": "/tmp/file.txt"})

    middleware = ResponseCacheMiddleware(file_app, cache=memory_cache, clock=clock)
    sent = await asgi_get(middleware, "/file")
    assert [message["type"] for message in sent] == ["http.response.start",
                                                     "http.response.pathsend"]
    assert middleware.counters["stored"] == 0


async def test_streamed_storable_response_is_not_held_back(
    memory_cache: Cache, clock: FakeClock
) -> None:
    """A multi-message body with cache headers still leaves chunk by chunk; not stored."""
    gate = asyncio.Event()

    async def ndjson(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/x-ndjson"),
            (b"cache-control", b"public, s-maxage=60")]})
        await send({"type": "http.response.body", "body": b'{"n":1}\n', "more_body": True})
        await gate.wait()
        await send({"type": "http.response.body", "body": b'{"n":2}\n'})

    received: list[bytes] = []

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.body":
            received.append(message["body"])  # type: ignore[arg-type]
            gate.set()

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    middleware = ResponseCacheMiddleware(ndjson, cache=memory_cache, clock=clock)
    scope = {"type": "http", "method": "GET", "path": "/feed", "query_string": b"",
             "headers": [(b"host", b"test")]}
    await asyncio.wait_for(middleware(scope, receive, send), timeout=5)
    assert received == [b'{"n":1}\n', b'{"n":2}\n']
    assert middleware.counters["stored"] == 0


async def test_single_body_over_the_limit_is_not_stored(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """One body message larger than max_body_size is sent whole and not kept."""
    origin.body = b"x" * 100
    middleware = ResponseCacheMiddleware(origin, cache=memory_cache, clock=clock,
                                         max_body_size=50)
    async with client_for(middleware) as client:
        first = await client.get("/big")
        await client.get("/big")
    assert first.content == b"x" * 100
    assert origin.calls == 2
