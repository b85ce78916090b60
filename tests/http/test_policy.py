"""cache_policy sets the headers every tier reads; tags come from the request."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Response
from fastapi.responses import PlainTextResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from overdrive import ConfigurationError, cache_policy
from overdrive.http.policy import CachePolicy
from tests.http.conftest import client_for


def feedback_app() -> FastAPI:
    app = FastAPI()

    @app.get("/boards/{board}/feedback")
    @cache_policy(ttl=60, swr=300, stale_if_error=600, tags=("board:{board}", "page:{page}"),
                  vary=("Accept-Language",))
    async def list_feedback(board: str, page: int = 1) -> dict[str, object]:
        return {"board": board, "page": page}

    @app.get("/sync/{item}")
    @cache_policy(ttl=5, tags=("item:{item}",))
    def sync_item(item: int) -> dict[str, int]:
        return {"item": item}

    @app.get("/text")
    @cache_policy(ttl=5)
    async def text() -> PlainTextResponse:
        return PlainTextResponse("hi", headers={"vary": "Cookie"})

    @app.get("/cookie/{item}")
    @cache_policy(ttl=5, tags=("item:{item}",))
    async def with_cookie(item: int, response: Response) -> dict[str, int]:
        response.set_cookie("seen", "1")
        return {"item": item}

    @app.get("/missing")
    @cache_policy(ttl=5, tags=("x:{nope}",))
    async def missing() -> dict[str, int]:
        return {}

    return app


async def test_fastapi_route_gets_every_tier_header() -> None:
    """Browsers, shared caches, CDNs and tags each get their header."""
    async with client_for(feedback_app()) as client:
        response = await client.get("/boards/main/feedback?page=2")
    assert response.json() == {"board": "main", "page": 2}
    assert response.headers["cache-control"] == (
        "public, max-age=0, s-maxage=60, stale-while-revalidate=300, stale-if-error=600")
    assert response.headers["cdn-cache-control"] == (
        "max-age=60, stale-while-revalidate=300, stale-if-error=600")
    assert response.headers["surrogate-control"] == response.headers["cdn-cache-control"]
    assert response.headers["surrogate-key"] == "board:main page:2"
    assert response.headers["cache-tag"] == "board:main,page:2"
    assert response.headers["vary"] == "Accept-Language"


async def test_default_arguments_fill_templates() -> None:
    """A query parameter left at its default still formats its tag."""
    async with client_for(feedback_app()) as client:
        response = await client.get("/boards/main/feedback")
    assert response.headers["surrogate-key"] == "board:main page:1"


async def test_sync_endpoints_work() -> None:
    """Plain def endpoints run off the event loop and get their headers."""
    async with client_for(feedback_app()) as client:
        response = await client.get("/sync/7")
    assert response.json() == {"item": 7}
    assert response.headers["surrogate-key"] == "item:7"


async def test_endpoint_taking_its_own_response_gets_it_and_the_headers() -> None:
    """An endpoint with a `Response` parameter still receives it; the policy joins it."""
    async with client_for(feedback_app()) as client:
        response = await client.get("/cookie/7")
    assert response.json() == {"item": 7}
    assert response.headers["set-cookie"].startswith("seen=1")
    assert response.headers["surrogate-key"] == "item:7"


async def test_returned_response_objects_get_the_headers_and_keep_their_vary() -> None:
    """When the endpoint returns a Response, headers land on it and Vary is merged."""
    async with client_for(feedback_app()) as client:
        response = await client.get("/text")
    assert response.text == "hi"
    assert response.headers["cache-control"].startswith("public")
    assert response.headers["vary"] == "Cookie"


async def test_unknown_template_field_is_a_clear_error() -> None:
    """A tag template naming a parameter the request lacks raises ConfigurationError."""
    async with client_for(feedback_app()) as client:
        with pytest.raises(ConfigurationError, match="nope"):
            await client.get("/missing")


async def test_starlette_endpoints_are_supported() -> None:
    """A request-only Starlette endpoint gets headers with tags from path parameters."""

    @cache_policy(ttl=30, tags=("user:{user}",))
    async def profile(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.path_params["user"]})

    app = Starlette(routes=[Route("/users/{user}", profile)])
    async with client_for(app) as client:
        response = await client.get("/users/ada")
    assert response.headers["surrogate-key"] == "user:ada"


def test_per_user_policy_keeps_cdns_out() -> None:
    """per_user: private for browsers, our targeted field, Vary on the credential."""
    headers = CachePolicy(ttl=60, swr=10, per_user=True).headers({})
    assert headers["Cache-Control"] == "private, max-age=0"
    assert headers["Overdrive-Cache-Control"] == "s-maxage=60, stale-while-revalidate=10"
    assert headers["Vary"] == "Authorization"
    assert "CDN-Cache-Control" not in headers


def test_cdn_ttl_overrides_the_edge_lifetime() -> None:
    """cdn_ttl lets the edge keep pages longer than the origin cache (purged on change)."""
    headers = CachePolicy(ttl=60, cdn_ttl=3600, browser_ttl=5).headers({})
    assert headers["CDN-Cache-Control"] == "max-age=3600"
    assert headers["Cache-Control"] == "public, max-age=5, s-maxage=60"


def test_too_many_tags_are_not_cached_anywhere_shared() -> None:
    """When tags overflow the CDN headers the response is made private, not half-tagged."""
    policy = CachePolicy(ttl=60, tags=tuple(f"t{i}:{{x}}" + "y" * 200 for i in range(200)))
    headers = policy.headers({"x": 1})
    assert headers == {"Cache-Control": "private, max-age=0"}


@pytest.mark.parametrize("arguments", [{"ttl": -1}, {"ttl": 1, "swr": -5},
                                       {"ttl": 1, "tags": "board:{board}"}, {"ttl": "60"}])
def test_bad_arguments_fail_at_declaration(arguments: dict[str, object]) -> None:
    """Negative lifetimes, a str instead of a tuple of tags: ConfigurationError at once."""
    with pytest.raises(ConfigurationError):
        cache_policy(**arguments)  # type: ignore[arg-type]


async def test_fastapi_request_only_endpoint_returning_data_gets_headers() -> None:
    """A FastAPI endpoint taking only the Request and returning a dict is covered too."""
    app = FastAPI()

    @app.get("/items/{item}")
    @cache_policy(ttl=30, tags=("item:{item}",))
    async def item(request: Request) -> dict[str, str]:
        return {"item": request.path_params["item"]}

    async with client_for(app) as client:
        response = await client.get("/items/9")
    assert response.json() == {"item": "9"}
    assert response.headers["surrogate-key"] == "item:9"
    assert response.headers["cache-control"].startswith("public")


async def test_endpoint_taking_its_own_request_and_response_keeps_them() -> None:
    """FastAPI fills one Request and one Response parameter: the endpoint's own are kept
    (and used for the headers), none is added beside them."""
    app = FastAPI()

    @app.get("/items/{item}")
    @cache_policy(ttl=30, tags=("item:{item}",))
    async def item(item: str, request: Request, response: Response) -> dict[str, str]:
        response.headers["x-seen"] = request.url.path
        return {"item": item}

    async with client_for(app) as client:
        response = await client.get("/items/9")
    assert response.json() == {"item": "9"}
    assert response.headers["x-seen"] == "/items/9"
    assert response.headers["surrogate-key"] == "item:9"


def test_guarded_policy_keeps_cdns_out_without_keying_by_credential() -> None:
    """guard=: private for browsers and CDNs, our targeted field says `guarded`, and
    nothing varies on the credential (one copy for every admitted caller)."""

    async def check(scope: object, path_params: object) -> bool:
        return True

    headers = CachePolicy(ttl=60, swr=10, tags=("board:{board}",), guard=check).headers(
        {"board": "main"}
    )
    assert headers["Cache-Control"] == "private, max-age=0"
    assert headers["Overdrive-Cache-Control"] == "s-maxage=60, stale-while-revalidate=10, guarded"
    assert headers["Surrogate-Key"] == "board:main"
    for name in ("Vary", "CDN-Cache-Control", "Surrogate-Control", "Cache-Tag"):
        assert name not in headers
