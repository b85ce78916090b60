"""Varnish in front of the first worker: it serves the preview page from its own cache,
and a publish or a revocation through the other worker purges it there.

The preview is the one public page (no API token), so the edge may keep it; content
responses need a token (Overdrive checks it before serving its one guarded copy) and
must never be stored at the edge.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Deployment, eventually, http_client
from tests.e2e.probes import newest_autosave, rewrite_authors

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ITEM = 2


async def _create_preview(deployment: Deployment, client: httpx.AsyncClient) -> dict[str, str]:
    created = await client.post(
        f"{deployment.item(ITEM)}/previews", headers=deployment.auth("writer")
    )
    assert created.status_code == 201, created.text
    preview: dict[str, str] = created.json()
    return preview


async def _edge_caches(edge: httpx.AsyncClient, url: str) -> httpx.Response:
    first, second = await edge.get(url), await edge.get(url)
    assert first.status_code == second.status_code == 200, first.text
    assert (first.headers["x-edge-cache"], second.headers["x-edge-cache"]) == ("MISS", "HIT")
    assert second.content == first.content
    return second


async def test_publish_through_the_other_worker_purges_the_edge(
    deployment: Deployment, clients: tuple[httpx.AsyncClient, ...]
) -> None:
    edge_url = deployment.require_edge()
    item = deployment.item(ITEM)
    preview = await _create_preview(deployment, clients[1])
    target = await newest_autosave(deployment, clients[1], item)
    async with http_client(edge_url) as edge:
        cached = await _edge_caches(edge, preview["url"])
        await rewrite_authors(deployment, ITEM, "changed-behind-the-edge")
        held = await edge.get(preview["url"])
        assert held.headers["x-edge-cache"] == "HIT"
        assert held.content == cached.content  # the edge answers without the origin

        published = await clients[1].post(
            f"{item}/versions/{target}/publish", headers=deployment.auth("editor")
        )
        assert published.status_code == 200, published.text

        seen: list[httpx.Response] = []

        async def refetched() -> None:
            response = await edge.get(preview["url"])
            seen.append(response)
            assert response.status_code == 200, response.text
            assert response.json()["draft"]["author"] == "changed-behind-the-edge"

        await eventually(refetched)
        assert seen[-1].headers["x-edge-cache"] == "MISS"  # fetched from the origin again
        again = await edge.get(preview["url"])
        assert again.headers["x-edge-cache"] == "HIT"
        assert again.content == seen[-1].content

        # Per-user content responses pass through the edge, never stored there.
        for _ in range(2):
            answer = await edge.get(f"{item}/published", headers=deployment.auth())
            assert answer.status_code == 200
            assert answer.json()["number"] == target
            assert answer.headers["x-edge-cache"] == "MISS"


async def test_revocation_through_the_other_worker_purges_the_edge(
    deployment: Deployment, clients: tuple[httpx.AsyncClient, ...]
) -> None:
    edge_url = deployment.require_edge()
    preview = await _create_preview(deployment, clients[0])
    async with http_client(edge_url) as edge:
        await _edge_caches(edge, preview["url"])
        revoked = await clients[1].delete(
            f"/previews/{preview['id']}", headers=deployment.auth("writer")
        )
        assert revoked.status_code == 204

        async def refused() -> None:
            response = await edge.get(preview["url"])
            assert response.status_code == 403, response.text[:200]

        await eventually(refused)
        again = await edge.get(preview["url"])  # the refusal itself is not kept
        assert again.status_code == 403
        assert again.headers["x-edge-cache"] == "MISS"
