"""How each cacheable GET is cached in optimised mode: one `cache_policy` per route.

The policy only sets headers; Overdrive's response cache (and a CDN in front) obey them,
so a hit is answered before routing and never reaches the application.

Every content route needs an API token, so its responses are `per_user`: the response
cache keeps one copy per `Authorization` value, browsers may keep theirs (`private`) and
a CDN stores none. A copy is also tagged with its principal (`user:{id}`,
`api-token:{id}`), so a revoked token or a changed permission purges that user's copies
at once instead of letting them answer until they expire.

The content tags are the ones the writes invalidate (see `caching`), formatted from
the route's path parameters, so `versions:{content_type}/{content_id}` names exactly what
an autosave of that item purges. The preview sets its own public edge headers (see
`previews`): it needs no token, and its tags come from the token's claims.
"""

from __future__ import annotations

from examples.versioning.routes import Cached, Endpoint
from examples.versioning.runtime import Settings
from overdrive import cache_policy

__all__ = ["PRINCIPAL_TAGS", "ROUTE_TAGS", "cached_routes", "plain_routes"]

ADDRESS = "{content_type}/{content_id}"
PRINCIPAL_TAGS = ("user:{principal.user_id}", "api-token:{principal.token_id}")
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


def cached_routes(settings: Settings) -> Cached:
    """Wraps each cacheable route in its per-user policy, with the settings' lifetimes."""

    def cached(name: str, endpoint: Endpoint) -> Endpoint:
        ttl = settings.diff_ttl if name == "compare" else settings.cache_ttl
        policy = cache_policy(
            ttl=int(ttl), swr=_SWR, per_user=True, tags=(*ROUTE_TAGS[name], *PRINCIPAL_TAGS)
        )
        return policy(endpoint)

    return cached


def plain_routes(_name: str, endpoint: Endpoint) -> Endpoint:
    """Plain mode: the endpoints as written, no caching headers."""
    return endpoint
