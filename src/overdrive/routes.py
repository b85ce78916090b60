"""Route templates: the bounded name a request is counted under, whoever answered it.

The template is what the router matched (`/items/{item_id}`), never the raw path: raw
paths make one time series per id. Starlette and FastAPI leave the matched route in
`scope["route"]`, Litestar the template in `scope["path_template"]`. A response-cache hit
never reaches the router, so the cache stores the template with the response and puts it
back in `scope[ROUTE_SCOPE_KEY]` when it serves the hit; metrics read that key first.
"""

from __future__ import annotations

from typing import Any

from overdrive.types import Scope

__all__ = ["ROUTE_SCOPE_KEY", "UNMATCHED_ROUTE", "known_template", "route_template",
           "template_of"]

UNMATCHED_ROUTE = "<unmatched>"
ROUTE_SCOPE_KEY = "overdrive.route"


def route_template(scope: Scope, root_path_before: str = "") -> str:
    """The matched route's template, with the prefixes of any mounts it sits under.

    `root_path_before` is `scope["root_path"]` as it was before the application ran.
    """
    route = scope.get("route")
    known = None if route is not None else known_template(scope)
    return template_of(route, known, root_path_before, scope.get("root_path", ""))


def known_template(scope: Scope) -> str | None:
    """The template named in the scope when no route object is: a cache hit's, Litestar's."""
    known = scope.get(ROUTE_SCOPE_KEY) or scope.get("path_template")
    return known if isinstance(known, str) else None


def template_of(route: Any, known: str | None, root_path_before: str, root_path: str) -> str:
    """`route_template` from its parts; `known` counts only when there is no route."""
    if route is None:
        return known if known is not None else UNMATCHED_ROUTE
    if root_path == root_path_before:  # the common case: a route of the top-level router
        template = getattr(route, "path_format", None)
        if isinstance(template, str):
            return template
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    prefix = root_path[len(root_path_before):] if root_path.startswith(root_path_before) else ""
    if hasattr(route, "routes"):  # a mount whose app is not a router: the rest is a path
        mount_path = getattr(route, "path", "")
        if prefix.endswith(mount_path):
            prefix = prefix[: len(prefix) - len(mount_path)]
        return f"{prefix}{mount_path}/{{path}}"
    return prefix + path
