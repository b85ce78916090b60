"""Two application instances on one database and one Redis, as two workers would run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from tests.examples.conftest import Deploy, Deployment


async def _eventually(check: Callable[[], Awaitable[bool]], attempts: int = 100) -> None:
    """Invalidation reaches other processes asynchronously (fast mode): poll briefly."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the other instance never saw the change")


async def test_publish_in_one_instance_invalidates_the_other(
    deploy: Deploy, redis_url: str
) -> None:
    """An instance's cached published, list and preview responses follow a publish made
    through another instance (invalidation over Redis, each with its own L1)."""
    first = await deploy(redis_url=redis_url)
    second_app = await deploy(redis_url=redis_url, sizes=None)
    second = Deployment(
        second_app.app, second_app.client, first.report, first.database_url, first.settings
    )
    item = first.item()
    preview = (await first.client.post(f"{item}/previews", headers=first.auth())).json()
    cached_published = (await second.get(f"{item}/published")).json()
    cached_listing = (await second.get(f"{item}/versions", params={"limit": 2})).json()
    assert (await second.client.get(preview["url"])).status_code == 200
    draft_number = cached_listing["items"][0]["number"]

    published = await first.client.post(
        f"{item}/versions/{draft_number}/publish", headers=first.auth()
    )
    assert published.status_code == 200

    async def published_moved() -> bool:
        response = await second.get(f"{item}/published")
        return bool(response.json()["number"] == draft_number)

    async def listing_moved() -> bool:
        response = await second.get(f"{item}/versions", params={"limit": 2})
        return bool(response.json()["items"][0]["kind"] == "published")

    async def preview_purged() -> bool:
        response: httpx.Response = await second.client.get(preview["url"])
        return response.status_code == 404

    await _eventually(published_moved)
    await _eventually(listing_moved)
    await _eventually(preview_purged)
    assert cached_published["number"] != draft_number


async def test_revoked_token_is_refused_by_the_other_instance(
    deploy: Deploy, redis_url: str
) -> None:
    """A token revoked through one instance stops working in the other, which had it cached."""
    first = await deploy(redis_url=redis_url)
    second_app = await deploy(redis_url=redis_url, sizes=None)
    issued = (await first.client.post("/users/viewer/tokens", headers=first.auth())).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert (await second_app.client.get("/me", headers=headers)).status_code == 200
    await first.client.delete(f"/tokens/{issued['id']}", headers=first.auth())

    async def refused() -> bool:
        return (await second_app.client.get("/me", headers=headers)).status_code == 401

    await _eventually(refused)
