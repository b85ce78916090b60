"""Route templates: the bounded name a request is counted under, whoever answered it.

The template is what the router matched (`/items/{item_id}`), never the raw path: raw
paths make one time series per id. Starlette and FastAPI leave the matched route in
`scope["route"]`, Litestar the template in `scope["path_template"]`. A response-cache hit
never reaches the router, so the cache stores the template with the response and puts it
back in `scope[ROUTE_SCOPE_KEY]` when it serves the hit; metrics read that key first.

Two places hold more of the template than the route object does:
- FastAPI (since its included routers stopped copying routes) leaves the included
  router's own `APIRoute` in `scope["route"]`, without the `include_router(prefix=...)`;
  the route as included, prefix and all, is its "effective route context" in
  `scope["fastapi"]`. One router included at two prefixes gives two contexts.
- A Starlette `Mount` adds the part of the path it matched to `root_path`, raw:
  `/orgs/acme` for `Mount("/orgs/{org}")`. The mount's template is found in the route
  tree under the outermost router (`scope["router"]`), whose mount chain matches that
  raw part.
"""

from __future__ import annotations

import re
import weakref
from typing import Any

from overdrive.types import Scope

__all__ = ["ROUTE_SCOPE_KEY", "UNMATCHED_ROUTE", "effective_route", "known_template",
           "matched_route", "route_template", "template_of"]

UNMATCHED_ROUTE = "<unmatched>"
ROUTE_SCOPE_KEY = "overdrive.route"


def route_template(scope: Scope, root_path_before: str = "") -> str:
    """The matched route's template, with the prefixes of any mounts it sits under.

    `root_path_before` is `scope["root_path"]` as it was before the application ran.
    """
    route = matched_route(scope)
    known = None if route is not None else known_template(scope)
    return template_of(route, known, root_path_before, scope.get("root_path", ""),
                       scope.get("router"))


def matched_route(scope: Scope) -> Any:
    """The route object the router matched, as included (see `effective_route`), or None.

    Observability's hot path inlines this to keep a call off every request.
    """
    route = scope.get("route")
    fastapi = scope.get("fastapi")
    return route if fastapi is None else effective_route(fastapi, route)


def effective_route(fastapi: Any, route: Any) -> Any:
    """FastAPI's route as included (its template has the include prefix), else `route`.

    A plain Starlette route in an included router leaves no `scope["route"]` at all; its
    included form is the context's `starlette_route`.
    """
    context = fastapi.get("effective_route_context") if isinstance(fastapi, dict) else None
    if context is None or (route is not None
                           and getattr(context, "original_route", None) is not route):
        return route
    return _as_included(context)


def _as_included(context: Any) -> Any:
    """The object whose `path_format` is an included route's whole template."""
    starlette_route = getattr(context, "starlette_route", None)
    return starlette_route if starlette_route is not None else context


def known_template(scope: Scope) -> str | None:
    """The template named in the scope when no route object is: a cache hit's, Litestar's."""
    known = scope.get(ROUTE_SCOPE_KEY) or scope.get("path_template")
    return known if isinstance(known, str) else None


def template_of(route: Any, known: str | None, root_path_before: str, root_path: str,
                router: Any = None) -> str:
    """`route_template` from its parts; `known` counts only when there is no route."""
    if route is None:
        return known if known is not None else UNMATCHED_ROUTE
    if root_path == root_path_before:  # the common case: a route of the top-level router
        template = getattr(route, "path_format", None)
        if isinstance(template, str):
            return template
    mounted = root_path[len(root_path_before):] if root_path.startswith(root_path_before) else ""
    if router is not None:
        found = _mount_index(router).template(route, mounted)
        if found is not None:
            return found
    # Not in the outermost router's tree (or no router at all): the mount's own path, raw.
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    if hasattr(route, "routes"):  # a mount whose app is not a router: the rest is a path
        mount_path = getattr(route, "path", "")
        if mounted.endswith(mount_path):
            mounted = mounted[: len(mounted) - len(mount_path)]
        return f"{mounted}{mount_path}/{{path}}"
    return mounted + path


class MountIndex:
    """Each route under a router's mounts, with the templates it can be reached by.

    Built by walking the route tree once, rebuilt when a route it has not seen turns up
    (routes added after start-up). A route reached through several mounts (one router
    mounted twice) has several entries; the one whose mount chain matches the raw
    `root_path` added by the mounts wins.
    """

    def __init__(self, router: Any) -> None:
        self.router = weakref.ref(router)
        # id -> the route itself (an id can be reused once its object is gone) and entries
        self.entries: dict[int, tuple[Any, list[tuple[re.Pattern[str], str]]]] = {}
        # Routes looked for after a rebuild and still not there: never rebuilt for again.
        self.unknown: dict[int, Any] = {}
        self.build()

    def template(self, route: Any, mounted: str) -> str | None:
        found = self.entries.get(id(route))
        if found is None or found[0] is not route:
            if self.unknown.get(id(route)) is route:
                return None
            self.build()
            found = self.entries.get(id(route))
            if found is None or found[0] is not route:
                self.unknown[id(route)] = route
                return None
        for pattern, template in found[1]:
            if pattern.fullmatch(mounted):
                return template
        return None

    def build(self) -> None:
        router = self.router()
        self.entries = {}
        if router is not None:
            self._walk(getattr(router, "routes", ()), "")

    def _walk(self, routes: Any, above: str) -> None:
        from starlette.routing import Host, Mount  # only Starlette-based routers get here

        for route in routes:
            if isinstance(route, Mount):
                inside = above + route.path
                self._add(route, inside, "/{path}")
                self._walk(_routes_under(route), inside)
            elif isinstance(route, Host):
                self._walk(_routes_under(route), above)
            elif above:
                self._add(route, above, getattr(route, "path_format", ""))
                contexts = getattr(route, "effective_route_contexts", None)
                if callable(contexts):  # FastAPI's included router inside a mount
                    for context in contexts():
                        included = _as_included(context)
                        self._add(included, above, getattr(included, "path_format", ""))

    def _add(self, route: Any, mounts: str, rest: Any) -> None:
        from starlette.routing import compile_path

        if not isinstance(rest, str):
            return
        pattern, template, _ = compile_path(mounts)
        self.entries.setdefault(id(route), (route, []))[1].append((pattern, template + rest))


def _routes_under(mount: Any) -> Any:
    """A mount's routes, also when its router sits behind middleware (`Mount(app=GZip...)`,
    whose own `routes` is empty): the first `routes` down the chain of `.app`."""
    routes = mount.routes
    app = getattr(mount, "app", None)
    for _ in range(32):
        if routes or app is None:
            break
        routes = getattr(app, "routes", None)
        app = getattr(app, "app", None)
    return routes or ()


# By id: routers need not be hashable (Starlette's is not). An entry goes with its router.
_INDEXES: dict[int, MountIndex] = {}


def _mount_index(router: Any) -> MountIndex:
    index = _INDEXES.get(id(router))
    if index is None or index.router() is not router:
        index = _INDEXES[id(router)] = MountIndex(router)
        weakref.finalize(router, _INDEXES.pop, id(router), None)
    return index
