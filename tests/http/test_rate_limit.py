"""Rate limiting middleware: 429, Retry-After, IETF headers, client keys, modes."""

from __future__ import annotations

import pytest

from overdrive import RateLimitMiddleware
from overdrive.http.rate_limit import ClientAddress
from overdrive.http.rate_limiter import MemoryRateLimiter
from overdrive.types import Scope
from tests.http.conftest import FakeClock, Origin, client_for
from tests.servers import redis_server


def limited(origin: Origin, clock: FakeClock, **options: object) -> RateLimitMiddleware:
    return RateLimitMiddleware(origin, limiter=MemoryRateLimiter(clock=clock, warn=False),
                               **options)  # type: ignore[arg-type]


async def test_n_plus_first_request_gets_429_with_retry_after(
    origin: Origin, clock: FakeClock
) -> None:
    """Three allowed, the fourth refused with Retry-After and never reaching the app."""
    app = limited(origin, clock, limit="3/minute")
    async with client_for(app) as client:
        responses = [await client.get("/") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[3].headers["retry-after"] == "20"
    assert origin.calls == 3


async def test_ietf_headers_on_every_response(origin: Origin, clock: FakeClock) -> None:
    """RateLimit-Policy and RateLimit on successes and refusals alike."""
    app = limited(origin, clock, limit="2/minute")
    async with client_for(app) as client:
        first = await client.get("/")
        await client.get("/")
        refused = await client.get("/")
    assert first.headers["ratelimit-policy"] == '"default";q=2;w=60'
    assert first.headers["ratelimit"] == '"default";r=1;t=30'
    assert refused.headers["ratelimit"].startswith('"default";r=0;')


async def test_error_responses_carry_the_headers(origin: Origin, clock: FakeClock) -> None:
    """A 500 from the app still tells the client its quota."""
    origin.status = 500
    async with client_for(limited(origin, clock, limit="5/minute")) as client:
        response = await client.get("/")
    assert response.status_code == 500
    assert "ratelimit" in response.headers


async def test_route_overrides_use_the_longest_prefix(origin: Origin, clock: FakeClock) -> None:
    """Per-route limits apply by path prefix, separately from the default."""
    app = limited(origin, clock, limit="100/minute",
                  overrides={"/login": "1/minute", "/login/sso": "5/minute"})
    async with client_for(app) as client:
        assert (await client.post("/login")).status_code == 200
        assert (await client.post("/login")).status_code == 429
        assert (await client.post("/login/sso")).status_code == 200
        assert (await client.get("/feed")).status_code == 200


async def test_dynamic_limits_per_user(origin: Origin, clock: FakeClock) -> None:
    """limit_for gives each plan its own rate; the key callable identifies the user."""

    def api_key(scope: Scope) -> str:
        return dict(scope["headers"]).get(b"x-api-key", b"anon").decode()

    def plan(scope: Scope) -> str | None:
        return "5/minute" if api_key(scope).startswith("pro") else None

    app = limited(origin, clock, limit="1/minute", key=api_key, limit_for=plan)
    async with client_for(app) as client:
        free = [await client.get("/", headers={"x-api-key": "free1"}) for _ in range(2)]
        pro = [await client.get("/", headers={"x-api-key": "pro1"}) for _ in range(5)]
    assert [r.status_code for r in free] == [200, 429]
    assert all(r.status_code == 200 for r in pro)
    assert pro[0].headers["ratelimit-policy"] == '"default";q=5;w=60'


async def test_shadow_mode_counts_but_lets_through(origin: Origin, clock: FakeClock) -> None:
    """In shadow mode nothing is refused; the would-be refusals are counted."""
    app = limited(origin, clock, limit="1/minute", shadow=True)
    async with client_for(app) as client:
        responses = [await client.get("/") for _ in range(3)]
    assert all(r.status_code == 200 for r in responses)
    assert app.stats["shadow_refused"] == 2


def scope_from(peer: str, forwarded: str | None = None) -> Scope:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 1234), "headers": headers}


def test_forwarded_for_is_ignored_from_untrusted_peers() -> None:
    """A client cannot pick its own key by sending X-Forwarded-For."""
    assert ClientAddress(["10.0.0.0/8"])(scope_from("203.0.113.9", "1.2.3.4")) == "203.0.113.9"


def test_forwarded_for_is_walked_through_trusted_proxies() -> None:
    """Behind trusted proxies the right-most untrusted hop is the client."""
    resolve = ClientAddress(["10.0.0.0/8", "192.168.0.1"])
    assert resolve(scope_from("10.0.0.5", "6.6.6.6, 198.51.100.7, 192.168.0.1")) == (
        "198.51.100.7")
    assert resolve(scope_from("10.0.0.5", "garbage")) == "garbage"
    assert resolve(scope_from("10.0.0.5")) == "10.0.0.5"


async def test_spoofed_forwarded_for_shares_the_real_clients_quota(
    origin: Origin, clock: FakeClock
) -> None:
    """Rotating X-Forwarded-For values from one untrusted peer does not reset the limit."""
    app = limited(origin, clock, limit="2/minute", trusted_proxies=["10.0.0.0/8"])
    async with client_for(app) as client:
        codes = [(await client.get("/", headers={"x-forwarded-for": f"1.1.1.{i}"})).status_code
                 for i in range(3)]
    assert codes == [200, 200, 429]


async def test_redis_down_fails_open_and_is_counted(origin: Origin) -> None:
    """With Redis unreachable requests pass (fail open) and the error is counted."""
    with redis_server() as server:
        app = RateLimitMiddleware(origin, limit="1/minute", redis=server.url)
        server.stop()
        async with client_for(app) as client:
            responses = [await client.get("/") for _ in range(3)]
        await app.close()
    assert all(r.status_code == 200 for r in responses)
    assert app.stats["backend_errors"] == 3


async def test_redis_down_fails_closed_when_asked(origin: Origin) -> None:
    """fail_open=False answers 503 instead of letting unlimited traffic through."""
    with redis_server() as server:
        app = RateLimitMiddleware(origin, limit="1/minute", redis=server.url, fail_open=False)
        server.stop()
        async with client_for(app) as client:
            response = await client.get("/")
        await app.close()
    assert response.status_code == 503
    assert origin.calls == 0


async def test_redis_backed_middleware_limits(
    origin: Origin, redis_url: str, namespace: str
) -> None:
    """The middleware on the shared Redis refuses the N+1th request."""
    app = RateLimitMiddleware(origin, limit="2/minute", redis=redis_url, prefix=namespace)
    async with client_for(app) as client:
        codes = [(await client.get("/")).status_code for _ in range(3)]
    await app.close()
    assert codes == [200, 200, 429]


@pytest.mark.parametrize("limit", ["nonsense", "0/second"])
def test_bad_limit_fails_at_construction(origin: Origin, limit: str) -> None:
    """A limit that cannot be parsed is refused when the middleware is built."""
    from overdrive import ConfigurationError

    with pytest.raises(ConfigurationError):
        RateLimitMiddleware(origin, limit=limit)
