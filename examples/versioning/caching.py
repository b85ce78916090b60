"""Where the application caches data: the tiered cache when optimised, nothing when plain.

Whole responses are cached by Overdrive's HTTP layer (see `policies`); what goes through
`Caching.get_or_set` is data several responses share (token lookups, item addresses,
diffs). Every write calls `Caching.invalidate` after its transaction commits; optimised,
that is `Overdrive.invalidate`, which reaches L1 in every process, L2, the response cache
(the same `Cache`) and the CDN. The plain mode differs from the optimised one here only.

Tags the application uses, named by the item's address `{content_type}/{content_id}`
(what the routes' paths hold, so `cache_policy` tag templates can name them too):
    versions:{address}          list pages of an item (publish, retention)
    versions:{address}/kind={k} list pages of one filter (k: None for unfiltered, or a kind)
    draft:{address}             the current draft and every preview of the item
    published:{address}         the published version
    version:{address}/{number}  one version's response (its kind changes on publish/autosave)
    autosaves:{address}         every version response of the item (the retention job prunes)
    preview-token:{token id}    one preview link (revoked)
    user:{id}, api-token:{id}   API token lookups (permissions changed, token revoked)
Keys (not tags) use the item's row id; `item-address:{type}:{id}` maps address to id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from overdrive import Cache

__all__ = ["Caching", "NoCaching", "TieredCaching"]

Loader = Callable[[], Awaitable[Any]]
Invalidator = Callable[..., Awaitable[None]]


class Caching(Protocol):
    async def get_or_set(
        self, key: str, loader: Loader, *, ttl: float, tags: Sequence[str] = ()
    ) -> Any: ...

    async def invalidate(self, *tags: str) -> None: ...

    async def close(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


class NoCaching:
    """Plain mode: every read goes to the database."""

    async def get_or_set(
        self, key: str, loader: Loader, *, ttl: float, tags: Sequence[str] = ()
    ) -> Any:
        return await loader()

    async def invalidate(self, *tags: str) -> None:
        return None

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, Any]:
        return {}


class TieredCaching:
    """Optimised mode: Overdrive's tiered cache (L1, plus Redis L2 when configured).

    `invalidator` is the cache's own `invalidate` until `create_app` routes it through
    `Overdrive.invalidate` (which also purges the response cache's race guard and the CDN).
    """

    def __init__(self, cache: Cache, invalidator: Invalidator | None = None) -> None:
        self.cache = cache
        self.invalidator: Invalidator = invalidator or cache.invalidate

    async def get_or_set(
        self, key: str, loader: Loader, *, ttl: float, tags: Sequence[str] = ()
    ) -> Any:
        return await self.cache.get_or_set(key, loader, ttl=ttl, tags=tags)

    async def invalidate(self, *tags: str) -> None:
        if tags:
            await self.invalidator(*tags)

    async def close(self) -> None:
        await self.cache.close()

    def stats(self) -> dict[str, Any]:
        return self.cache.stats()
