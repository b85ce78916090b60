"""Probes the e2e tests use beside the HTTP API: a write behind the caches' back, and a
version number to publish."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from examples.versioning.schema import ContentItem, Version
from tests.e2e.conftest import Deployment


async def rewrite_authors(deployment: Deployment, index: int, author: str) -> None:
    """Set every version's author of item `index` directly in the database.

    Nothing is invalidated, so a response still showing the old author came from a cache,
    and one showing `author` was loaded after the caches dropped their copy."""
    content_type, content_id = deployment.report.items[index]
    engine = deployment.engine()
    try:
        async with engine.begin() as connection:
            item_id = (
                select(ContentItem.id)
                .where(ContentItem.content_type == content_type,
                       ContentItem.content_id == content_id)
                .scalar_subquery()
            )
            await connection.execute(
                update(Version).where(Version.content_item_id == item_id).values(author=author)
            )
    finally:
        await engine.dispose()


async def newest_autosave(deployment: Deployment, client: httpx.AsyncClient, item: str) -> int:
    listing = await client.get(
        f"{item}/versions", params={"kind": "autosave", "limit": 1}, headers=deployment.auth()
    )
    number: int = listing.json()["items"][0]["number"]
    return number
