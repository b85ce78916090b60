"""Guarded policies: one shared copy of an authenticated response, checked on every hit.

The application below requires a bearer token and refuses (401 without one, 403 without
the permission) before it answers; its body is the same for every permitted caller. The
guard says the same thing cheaply, so the response cache can store one copy keyed
without the credential and still never hand it to a caller the application would refuse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from overdrive import Cache, ResponseCacheMiddleware, cache_policy
from overdrive.http.guard import GUARD_SCOPE_KEY, register_guard
from overdrive.types import Scope
from tests.http.conftest import FakeClock, client_for

SECRET = "the-report-body"


class Directory:
    """Who may read which board; the guard and the application both consult it."""

    def __init__(self) -> None:
        self.readers: dict[str, set[str]] = {"alice": {"main"}, "bob": {"main"},
                                             "carol": {"other"}}
        self.guard_calls: list[tuple[str, dict[str, Any]]] = []
        self.guard_error: Exception | None = None
        self.origin_calls = 0
        self.delay = 0.0
        self.version = 1

    def principal(self, headers: Any) -> str | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token in self.readers else None

    async def guard(self, scope: Scope, path_params: Mapping[str, Any]) -> bool:
        if self.guard_error is not None:
            raise self.guard_error
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        user = self.principal(headers)
        self.guard_calls.append((user or "", dict(path_params)))
        return user is not None and path_params["board"] in self.readers[user]


def build(directory: Directory, clock: FakeClock, cache: Cache,
          **policy: Any) -> ResponseCacheMiddleware:
    async def report(request: Request) -> Response:
        directory.origin_calls += 1
        if directory.delay:
            await asyncio.sleep(directory.delay)
        user = directory.principal(request.headers)
        if user is None:
            return JSONResponse({"error": "token"}, 401, {"WWW-Authenticate": "Bearer"})
        if request.path_params["board"] not in directory.readers[user]:
            return JSONResponse({"error": "forbidden"}, 403)
        return JSONResponse({"board": request.path_params["board"], "report": SECRET,
                             "version": directory.version})

    guarded = cache_policy(ttl=60, tags=("board:{board}",), guard=directory.guard,
                           **policy)(report)
    app = Starlette(routes=[Route("/boards/{board}/report", guarded)])
    return ResponseCacheMiddleware(app, cache=cache, clock=clock)


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def middleware(directory: Directory, clock: FakeClock, memory_cache: Cache
               ) -> ResponseCacheMiddleware:
    return build(directory, clock, memory_cache)


def bearer(user: str) -> dict[str, str]:
    return {"authorization": f"Bearer {user}"}


async def test_one_shared_copy_serves_every_permitted_user(
    middleware: ResponseCacheMiddleware, directory: Directory
) -> None:
    """Alice's miss is stored once; Bob (permitted) gets a HIT with the same body."""
    async with client_for(middleware) as client:
        alice = await client.get("/boards/main/report", headers=bearer("alice"))
        bob = await client.get("/boards/main/report", headers=bearer("bob"))
    assert (alice.status_code, alice.headers["x-cache"]) == (200, "MISS")
    assert (bob.status_code, bob.headers["x-cache"]) == (200, "HIT")
    assert bob.content == alice.content
    assert directory.origin_calls == 1
    # The hit asked the guard with the path parameters stored with the copy.
    assert directory.guard_calls[-1] == ("bob", {"board": "main"})


async def test_refused_and_anonymous_callers_get_the_applications_answer(
    middleware: ResponseCacheMiddleware, directory: Directory
) -> None:
    """Carol (no permission) gets the app's 403, no token gets its 401: never the body,
    and neither refusal replaces the shared copy."""
    async with client_for(middleware) as client:
        await client.get("/boards/main/report", headers=bearer("alice"))
        carol = await client.get("/boards/main/report", headers=bearer("carol"))
        anonymous = await client.get("/boards/main/report")
        bob = await client.get("/boards/main/report", headers=bearer("bob"))
    assert carol.status_code == 403
    assert SECRET not in carol.text
    assert anonymous.status_code == 401
    assert SECRET not in anonymous.text
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert (bob.status_code, bob.headers["x-cache"]) == (200, "HIT")
    assert directory.origin_calls == 3
    assert middleware.counters["guard_refused"] == 2


async def test_a_refused_first_request_stores_nothing(
    middleware: ResponseCacheMiddleware, directory: Directory
) -> None:
    """A miss stores only a 2xx produced for a request the guard admits."""
    async with client_for(middleware) as client:
        carol = await client.get("/boards/main/report", headers=bearer("carol"))
        alice = await client.get("/boards/main/report", headers=bearer("alice"))
    assert carol.status_code == 403
    assert (alice.status_code, alice.headers["x-cache"]) == (200, "MISS")


async def test_revoked_principal_stops_getting_hits_at_once(
    middleware: ResponseCacheMiddleware, directory: Directory
) -> None:
    """The guard is asked on every hit: a revocation takes effect on the next request."""
    async with client_for(middleware) as client:
        await client.get("/boards/main/report", headers=bearer("alice"))
        before = await client.get("/boards/main/report", headers=bearer("bob"))
        directory.readers["bob"] = set()
        after = await client.get("/boards/main/report", headers=bearer("bob"))
        alice = await client.get("/boards/main/report", headers=bearer("alice"))
    assert before.headers["x-cache"] == "HIT"
    assert after.status_code == 403
    assert SECRET not in after.text
    assert alice.headers["x-cache"] == "HIT"


async def test_a_failing_guard_sends_the_request_to_the_origin(
    middleware: ResponseCacheMiddleware, directory: Directory
) -> None:
    """A guard that raises refuses (logged, counted): the origin answers, fresh."""
    async with client_for(middleware) as client:
        await client.get("/boards/main/report", headers=bearer("alice"))
        directory.guard_error = RuntimeError("token store down")
        bob = await client.get("/boards/main/report", headers=bearer("bob"))
        carol = await client.get("/boards/main/report", headers=bearer("carol"))
    assert bob.status_code == 200
    assert bob.headers["x-cache"] != "HIT"
    assert carol.status_code == 403
    assert directory.origin_calls == 3
    assert middleware.counters["guard_errors"] == 2


async def test_an_unknown_guard_id_is_refused(
    middleware: ResponseCacheMiddleware, directory: Directory, memory_cache: Cache
) -> None:
    """An entry naming a guard this process does not have is never served."""
    async with client_for(middleware) as client:
        await client.get("/boards/main/report", headers=bearer("alice"))
        entry = memory_cache.peek_entry(middleware._key(
            {"path": "/boards/main/report", "query_string": b""}, b"test"))
        entry.value["g"] = "nowhere:unknown"
        bob = await client.get("/boards/main/report", headers=bearer("bob"))
    assert bob.headers["x-cache"] != "HIT"
    assert middleware.counters["guard_unknown"] == 1


async def test_guarded_responses_are_never_stored_at_the_edge(
    middleware: ResponseCacheMiddleware,
) -> None:
    """private for browsers and CDNs, no CDN lifetimes, no Cloudflare tag; the marker
    (our targeted field, the guard id) never reaches the client, on a miss or a hit."""
    async with client_for(middleware) as client:
        miss = await client.get("/boards/main/report", headers=bearer("alice"))
        hit = await client.get("/boards/main/report", headers=bearer("bob"))
    for response in (miss, hit):
        headers = response.headers
        assert headers["cache-control"].startswith("private")
        assert "s-maxage" not in headers["cache-control"]
        for name in ("cdn-cache-control", "surrogate-control", "cache-tag",
                     "overdrive-cache-control"):
            assert name not in headers
        assert "authorization" not in headers.get("vary", "").lower()
        assert headers["surrogate-key"] == "board:main"  # our tiers still purge by tag
        raw = " ".join(f"{k}: {v}" for k, v in headers.items())
        assert "guard" not in raw.lower()


async def test_tags_purge_the_shared_copy(
    middleware: ResponseCacheMiddleware, directory: Directory, memory_cache: Cache
) -> None:
    async with client_for(middleware) as client:
        await client.get("/boards/main/report", headers=bearer("alice"))
        await memory_cache.invalidate("board:main")
        bob = await client.get("/boards/main/report", headers=bearer("bob"))
    assert bob.headers["x-cache"] == "MISS"


async def test_stale_copy_is_checked_and_refreshed_with_the_admitted_credential(
    directory: Directory, clock: FakeClock, memory_cache: Cache
) -> None:
    """Within stale-while-revalidate a refused caller gets the app's 403, not the stale
    body; an admitted one gets STALE and the refresh (which needs a credential) stores."""
    middleware = build(directory, clock, memory_cache, swr=100)
    async with client_for(middleware) as client:
        await client.get("/boards/main/report", headers=bearer("alice"))
        clock.advance(70)
        directory.version = 2
        carol = await client.get("/boards/main/report", headers=bearer("carol"))
        anonymous = await client.get("/boards/main/report")
        bob = await client.get("/boards/main/report", headers=bearer("bob"))
        await middleware.drain()
        again = await client.get("/boards/main/report", headers=bearer("alice"))
    assert carol.status_code == 403
    assert SECRET not in carol.text
    assert anonymous.status_code == 401
    assert SECRET not in anonymous.text
    assert (bob.headers["x-cache"], bob.json()["version"]) == ("STALE", 1)
    assert (again.headers["x-cache"], again.json()["version"]) == ("HIT", 2)


async def test_coalesced_waiters_are_checked_before_the_leaders_result(
    middleware: ResponseCacheMiddleware, directory: Directory
) -> None:
    """A refused request queued behind a permitted miss never receives its body."""
    directory.delay = 0.05
    async with client_for(middleware) as client:
        responses = await asyncio.gather(
            client.get("/boards/main/report", headers=bearer("alice")),
            client.get("/boards/main/report", headers=bearer("carol")),
            client.get("/boards/main/report"),
            client.get("/boards/main/report", headers=bearer("bob")),
        )
    alice, carol, anonymous, bob = responses
    assert middleware.counters["coalesced"] == 3
    assert alice.status_code == 200
    assert bob.status_code == 200
    assert bob.headers["x-cache"] == "HIT"
    assert bob.content == alice.content
    assert carol.status_code == 403
    assert SECRET not in carol.text
    assert anonymous.status_code == 401
    assert SECRET not in anonymous.text


async def test_without_the_scope_marker_nothing_is_stored(
    clock: FakeClock, memory_cache: Cache, directory: Directory
) -> None:
    """A response marked guarded whose guard did not reach the cache (a layer copied the
    scope, say) is not stored: it would otherwise become an unguarded shared copy."""
    guarded = cache_policy(ttl=60, guard=directory.guard)(lambda request: Response("x"))

    async def endpoint_app(scope: Scope, receive: Any, send: Any) -> None:
        request = Request({**scope, "path_params": {"board": "main"}}, receive)
        response = await guarded(request)
        assert GUARD_SCOPE_KEY not in scope
        await response(scope, receive, send)

    middleware = ResponseCacheMiddleware(endpoint_app, cache=memory_cache, clock=clock)
    async with client_for(middleware) as client:
        first = await client.get("/x", headers=bearer("alice"))
        second = await client.get("/x", headers=bearer("alice"))
    assert first.status_code == 200
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "MISS")


def test_guards_have_stable_distinct_ids() -> None:
    async def check(scope: Scope, path_params: Mapping[str, Any]) -> bool:
        return True

    first = register_guard(check)
    assert register_guard(check) == first
    assert first.endswith("test_guards_have_stable_distinct_ids.<locals>.check")

    async def other(scope: Scope, path_params: Mapping[str, Any]) -> bool:
        return False

    other.__qualname__ = check.__qualname__
    assert register_guard(other) == f"{first}#2"


def test_per_user_and_guard_are_exclusive(directory: Directory) -> None:
    from overdrive.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        cache_policy(ttl=60, per_user=True, guard=directory.guard)


def test_a_guard_that_is_gone_frees_its_id() -> None:
    """Registered weakly: an application rebuilt in the same process gets its ids back,
    and a dead application's guard (and what it closes over) is not kept alive."""
    import gc

    def build_guard() -> Any:
        async def check(scope: Scope, path_params: Mapping[str, Any]) -> bool:
            return True

        return check

    first, second = build_guard(), build_guard()
    first_id = register_guard(first)
    assert register_guard(second) == f"{first_id}#2"
    del first, second
    gc.collect()
    again = build_guard()
    assert register_guard(again) == first_id
