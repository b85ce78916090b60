"""Where the application caches: the tiered cache when optimised, nothing when plain.

Every cached read in the application goes through `Caching.get_or_set` with its tags,
and every write through `Caching.invalidate` after its transaction commits, so the plain
mode differs from the optimised one in this module only.

Tags the application uses, named by the item's address `{content_type}/{content_id}`
(what the routes' paths hold, so `cache_policy` tag templates can name them too):
    versions:{address}          list pages of an item
    draft:{address}             the current draft and every preview of the item
    published:{address}         the published version
    version:{address}/{number}  one version's response (its kind changes on publish/autosave)
    autosaves:{address}         every version response of the item (the retention job prunes)
    preview-token:{token id}    one preview link (revoked)
    user:{id}, api-token:{id}   API token lookups (permissions changed, token revoked)
Keys (not tags) use the item's row id; `item-address:{type}:{id}` maps address to id.

PLUG-IN POINT (HTTP layer): once `overdrive.http` is merged, the response-level entries
(versions, draft, published, version, preview) move to `@cache_policy(...)` on the routes
with these same tags in `Surrogate-Key`, and `invalidate` becomes `od.invalidate`, which
also purges the CDN.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from overdrive import Cache

__all__ = ["Caching", "NoCaching", "TieredCaching"]

Loader = Callable[[], Awaitable[Any]]


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
    """Optimised mode: Overdrive's tiered cache (L1, plus Redis L2 when configured)."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    async def get_or_set(
        self, key: str, loader: Loader, *, ttl: float, tags: Sequence[str] = ()
    ) -> Any:
        return await self.cache.get_or_set(key, loader, ttl=ttl, tags=tags)

    async def invalidate(self, *tags: str) -> None:
        if tags:
            await self.cache.invalidate(*tags)

    async def close(self) -> None:
        await self.cache.close()

    def stats(self) -> dict[str, Any]:
        return self.cache.stats()
