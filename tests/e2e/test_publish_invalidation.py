"""A publish through one worker invalidates the version list, the published version and
the preview in both workers (the edge: see test_edge).

To see that a response comes from a cache, the test changes the item's rows behind the
application's back (see `rewrite_authors`): a cached response still shows the old author,
a freshly loaded one the new. So "cached first" and "invalidated after" are both
observed, not assumed; X-Cache says the same from the HTTP layer's side.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, eventually
from tests.e2e.probes import newest_autosave, rewrite_authors

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

LISTING = {"limit": 5}


async def _views(
    deployment: Deployment,
    client: httpx.AsyncClient,
    item: str,
    preview_url: str,
    cache: str | None = None,
) -> dict[str, Any]:
    """The three responses a publish must invalidate, as one worker answers them now;
    with `cache`, each must carry that X-Cache status."""
    headers = deployment.auth()
    responses = {
        "published": await client.get(f"{item}/published", headers=headers),
        "list": await client.get(f"{item}/versions", params=LISTING, headers=headers),
        "preview": await client.get(preview_url),
    }
    for name, response in responses.items():
        assert response.status_code == 200, response.text
        if cache is not None:
            assert response.headers.get("x-cache") == cache, (name, response.headers)
    return {name: response.json() for name, response in responses.items()}


async def test_publish_invalidates_list_published_and_preview_in_both_workers(
    deployment: Deployment, clients: tuple[httpx.AsyncClient, ...]
) -> None:
    item = deployment.item(1)
    preview = await clients[0].post(f"{item}/previews", headers=deployment.auth("writer"))
    assert preview.status_code == 201, preview.text
    preview_url = preview.json()["url"]
    target = await newest_autosave(deployment, clients[0], item)

    # Each worker serves the three views itself, then answers them from its cache.
    cached = [await _views(deployment, client, item, preview_url) for client in clients]
    assert cached[0] == cached[1]
    assert cached[0]["published"]["number"] != target
    await rewrite_authors(deployment, 1, "changed-behind-the-cache")
    for client, before in zip(clients, cached, strict=True):
        assert await _views(deployment, client, item, preview_url, cache="HIT") == before

    published = await clients[0].post(
        f"{item}/versions/{target}/publish", headers=deployment.auth("editor")
    )
    assert published.status_code == 200, published.text
    assert published.json()["archived"] == cached[0]["published"]["number"]

    async def fresh_in(client: httpx.AsyncClient) -> None:
        views = await _views(deployment, client, item, preview_url)
        assert views["published"]["number"] == target
        assert views["published"]["author"] == "changed-behind-the-cache"
        kinds = {v["number"]: v["kind"] for v in views["list"]["items"]}
        assert kinds[target] == "published"
        assert {v["author"] for v in views["list"]["items"]} == {"changed-behind-the-cache"}
        # The draft did not change, but the preview was reloaded: its tag was purged.
        assert views["preview"]["draft"]["number"] == cached[0]["preview"]["draft"]["number"]
        assert views["preview"]["draft"]["author"] == "changed-behind-the-cache"

    await fresh_in(clients[0])  # the publishing worker: invalidated before it answered
    await eventually(lambda: fresh_in(clients[1]))  # the other: over Redis, soon after
