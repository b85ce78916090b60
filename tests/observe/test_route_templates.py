"""Route labels under mounts and included routers: templates, never raw path values.

Each app is driven through Observability and read back from its own /metrics, so what is
checked is the label a Prometheus user sees.
"""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router

from overdrive.observe import Observability
from overdrive.routes import MountIndex, template_of
from overdrive.slo import Objectives
from overdrive.types import Receive, Scope, Send
from tests.http.conftest import client_for
from tests.observe.test_app import samples


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def raw_files(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app mounted directly: no router below the mount."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"file"})


async def routes_counted(app: Starlette | FastAPI, paths: list[str]) -> dict[str, float]:
    observed = Observability(app, objectives=Objectives())
    try:
        async with client_for(observed) as http:
            for path in paths:
                assert (await http.get(path)).status_code == 200, path
            body = (await http.get("/metrics")).text
    finally:
        await observed.aclose()
    return {dict(labels)["route"]: value for (name, labels), value in samples(body).items()
            if name == "overdrive_http_requests_total"}


@pytest.fixture
def users() -> Router:
    return Router(routes=[Route("/users/{name}", ok)])


async def test_mount_parameters_are_labelled_by_name_at_every_depth(users: Router) -> None:
    app = Starlette(routes=[
        Mount("/orgs/{org}", routes=[Mount("/teams/{team:int}", app=users)]),
        Mount("/files/{bucket}", app=raw_files),
    ])
    counted = await routes_counted(app, [
        "/orgs/acme/teams/1/users/ann", "/orgs/beta/teams/22/users/bob",
        "/files/b1/a/b.txt", "/files/b2/c.txt"])
    assert counted == {"/orgs/{org}/teams/{team}/users/{name}": 2,
                       "/files/{bucket}/{path}": 2}


async def test_a_router_behind_middleware_in_a_mount_is_found(users: Router) -> None:
    app = Starlette(routes=[Mount("/t/{tenant}", app=GZipMiddleware(users))])
    counted = await routes_counted(app, ["/t/a/users/ann", "/t/b/users/bob"])
    assert counted == {"/t/{tenant}/users/{name}": 2}


def test_a_route_missing_from_the_tree_does_not_rebuild_it_again(users: Router) -> None:
    """Looked for once after a rebuild: the next lookups answer at once."""
    index = MountIndex(Router(routes=[Mount("/m/{x}", app=users)]))
    builds = 0
    original = index.build

    def counting() -> None:
        nonlocal builds
        builds += 1
        original()

    index.build = counting  # type: ignore[method-assign]
    strays = [Route("/stray/{id}", ok), Route("/other", ok)]
    for _ in range(5):
        for stray in strays:
            assert index.template(stray, "/m/1") is None
    assert builds == 2
    assert index.template(users.routes[0], "/m/1") == "/m/{x}/users/{name}"


async def test_one_router_mounted_twice_is_labelled_by_the_mount_that_matched(
    users: Router,
) -> None:
    app = Starlette(routes=[Mount("/v1/{tenant}", app=users), Mount("/v2", app=users)])
    counted = await routes_counted(app, ["/v1/t1/users/ann", "/v2/users/bob",
                                         "/v1/t2/users/cy"])
    assert counted == {"/v1/{tenant}/users/{name}": 2, "/v2/users/{name}": 1}


async def test_fastapi_include_prefixes_stay_in_the_label() -> None:
    """One router included at two prefixes: each request under the prefix it came in by;
    a plain Starlette route in an included router too."""
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    router.add_route("/plain/{name}", ok)

    app = FastAPI()
    app.include_router(router, prefix="/v1/{version}")
    app.include_router(router, prefix="/beta")
    sub = Starlette(routes=[Route("/items/{item_id}", ok)])
    app.mount("/legacy/{shard}", sub)
    counted = await routes_counted(app, ["/v1/2/things/5", "/v1/3/things/6", "/beta/things/7",
                                         "/legacy/s1/items/4", "/v1/2/plain/ann"])
    assert counted == {"/v1/{version}/things/{thing_id}": 2, "/beta/things/{thing_id}": 1,
                       "/legacy/{shard}/items/{item_id}": 1, "/v1/{version}/plain/{name}": 1}


async def test_a_mount_added_after_the_first_request_is_found(users: Router) -> None:
    app = Starlette(routes=[Mount("/a/{x}", app=users)])
    observed = Observability(app, objectives=Objectives())
    try:
        async with client_for(observed) as http:
            assert (await http.get("/a/1/users/ann")).status_code == 200
            await http.get("/metrics")  # the first fold indexes the route tree
            app.router.routes.append(Mount("/b/{y}", routes=[Route("/late/{z}", ok)]))
            assert (await http.get("/b/2/late/3")).status_code == 200
            body = (await http.get("/metrics")).text
    finally:
        await observed.aclose()
    routes = {dict(labels)["route"] for (name, labels) in samples(body)
              if name == "overdrive_http_requests_total"}
    assert routes == {"/a/{x}/users/{name}", "/b/{y}/late/{z}"}


def test_a_route_outside_the_routers_tree_keeps_the_old_reading(users: Router) -> None:
    """Not found under the router (a hand-built scope): the mount's path as it came."""
    stray = Route("/stray/{id}", ok)
    assert template_of(stray, None, "", "/m", users) == "/m/stray/{id}"
    assert template_of(stray, None, "", "/m", None) == "/m/stray/{id}"
