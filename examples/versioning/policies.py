"""How each cacheable GET is cached in optimised mode: one `cache_policy` per route.

The policy only sets headers; Overdrive's response cache (and a CDN in front) obey them,
so a hit is answered before routing and never reaches the application.

Every content route needs an API token with the `read` permission, and answers every
such caller with the same body. So each response is stored ONCE, not once per token,
and `guard=` makes the response cache check the caller's token before it serves that
shared copy: the same cached token lookup `require("read")` uses (see `auth`), so a
revoked token or a removed permission is refused on its very next request (those writes
invalidate the lookup), and a refused caller gets the application's own 401/403.
Browsers may keep their copy (`private`); a CDN stores none.

The content tags are the ones the writes invalidate (see `caching`), formatted from
the route's path parameters, so `versions:{content_type}/{content_id}` names exactly what
an autosave of that item purges. The preview sets its own public edge headers (see
`previews`): it needs no token, and its tags come from the token's claims.
"""

from __future__ import annotations

from examples.versioning.auth import permission_guard
from examples.versioning.routes import Cached, Endpoint
from examples.versioning.runtime import Runtime
from overdrive import cache_policy

__all__ = ["ROUTE_TAGS", "cached_routes", "plain_routes"]

ADDRESS = "{content_type}/{content_id}"
ROUTE_TAGS: dict[str, tuple[str, ...]] = {
    # Every page of the item, and the pages of its filter: an autosave changes the
    # unfiltered, draft and autosave listings but leaves published and archived cached.
    "versions": (f"versions:{ADDRESS}", f"versions:{ADDRESS}/kind={{kind}}"),
    "version": (f"version:{ADDRESS}/{{number}}", f"autosaves:{ADDRESS}"),
    "draft": (f"draft:{ADDRESS}",),
    "published": (f"published:{ADDRESS}",),
    # Diffs never change; pruning a version (retention) purges the item's autosaves tag.
    "compare": (f"autosaves:{ADDRESS}",),
}
_SWR = 30


def cached_routes(state: Runtime) -> Cached:
    """Wraps each cacheable route in its guarded policy, with the settings' lifetimes."""
    settings = state.settings
    may_read = permission_guard(state, "read")

    def cached(name: str, endpoint: Endpoint) -> Endpoint:
        ttl = settings.diff_ttl if name == "compare" else settings.cache_ttl
        policy = cache_policy(ttl=int(ttl), swr=_SWR, tags=ROUTE_TAGS[name], guard=may_read)
        return policy(endpoint)

    return cached


def plain_routes(_name: str, endpoint: Endpoint) -> Endpoint:
    """Plain mode: the endpoints as written, no caching headers."""
    return endpoint
