"""How the application names a content item: by row id in keys, by address in tags."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ItemRef"]


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A content item as the routes know it: its row id and its address in URLs.

    Cache keys use the id; cache tags use the address, because the address is what a
    route's path holds, so `@cache_policy(tags=("draft:{content_type}/{content_id}",))`
    names the very tags the writes invalidate.
    """

    id: int
    address: str

    def tag(self, scope: str) -> str:
        """versions, draft, published or autosaves: `draft:article/article-00001`."""
        return f"{scope}:{self.address}"

    def listing_tag(self, kind: str | None) -> str:
        """List pages of one filter: `versions:article/article-00001/kind=published`.

        `kind=None` is the unfiltered listing: the text a `cache_policy` template
        `.../kind={kind}` formats to when the query has no `kind`.
        """
        return f"versions:{self.address}/kind={kind}"

    def version_tag(self, number: int) -> str:
        return f"version:{self.address}/{number}"
