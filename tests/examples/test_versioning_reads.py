"""The read endpoints: listing with keyset cursors, one version, draft, published."""

from __future__ import annotations

import pytest

from tests.examples.conftest import SMALL, Deploy, Deployment


@pytest.mark.parametrize("optimised", [True, False])
async def test_listing_walks_every_version_newest_first(deploy: Deploy, optimised: bool) -> None:
    """Following next_cursor visits every version once, in descending number order."""
    deployment = await deploy(optimised=optimised)
    numbers: list[int] = []
    cursor = None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        response = await deployment.get(f"{deployment.item()}/versions", params=params)
        assert response.status_code == 200
        page = response.json()
        numbers += [entry["number"] for entry in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert numbers == list(range(SMALL.large_versions, 0, -1))


async def test_listing_is_metadata_only(deployment: Deployment) -> None:
    """List entries carry sizes and kinds but never the bodies."""
    response = await deployment.get(f"{deployment.item()}/versions", params={"limit": 3})
    entry = response.json()["items"][0]
    assert set(entry) == {"number", "kind", "author", "created_at", "lock_version", "text_bytes"}
    assert entry["kind"] == "draft"


async def test_listing_filters_by_kind(deployment: Deployment) -> None:
    """kind=archived lists only archived versions, and cursors keep the filter."""
    first = await deployment.get(
        f"{deployment.item()}/versions", params={"kind": "archived", "limit": 5}
    )
    page = first.json()
    assert {entry["kind"] for entry in page["items"]} == {"archived"}
    second = await deployment.get(
        f"{deployment.item()}/versions",
        params={"kind": "archived", "limit": 5, "cursor": page["next_cursor"]},
    )
    numbers = [entry["number"] for entry in page["items"] + second.json()["items"]]
    assert numbers == [100, 90, 80, 70, 60, 50, 40, 30, 20, 10]


async def test_bad_cursors_are_400(deployment: Deployment) -> None:
    """Malformed, tampered and foreign cursors answer 400, never a 500 or a wrong page."""
    listing = f"{deployment.item()}/versions"
    cursor = (await deployment.get(listing, params={"limit": 2})).json()["next_cursor"]
    head, _, signature = cursor.partition(".")
    tampered = head[:-2] + ("AA" if head[-2:] != "AA" else "BB") + "." + signature
    foreign_kind = {"kind": "autosave", "cursor": cursor}
    for params in (
        {"cursor": "not-a-cursor"},
        {"cursor": tampered},
        {"cursor": cursor + "x"},
        foreign_kind,
    ):
        response = await deployment.get(listing, params=params)
        assert response.status_code == 400, params
        assert "cursor" in response.json()["detail"]
    other_item = await deployment.get(f"{deployment.item(1)}/versions", params={"cursor": cursor})
    assert other_item.status_code == 400


async def test_bad_query_values_are_422(deployment: Deployment) -> None:
    """An unknown kind or an out-of-range limit is a validation error naming the field."""
    for params in ({"kind": "deleted"}, {"limit": 0}, {"limit": 101}):
        response = await deployment.get(f"{deployment.item()}/versions", params=params)
        assert response.status_code == 422, params


async def test_get_one_version_with_its_body(deployment: Deployment) -> None:
    """A version answers with its JSON body and its full text."""
    response = await deployment.get(f"{deployment.item()}/versions/5")
    assert response.status_code == 200
    version = response.json()
    assert version["number"] == 5
    assert version["kind"] == "autosave"
    assert len(version["text"].encode()) == version["text_bytes"]
    assert version["body"]["title"].endswith("v5")


async def test_archived_version_reads_back_decompressed(deployment: Deployment) -> None:
    """An archived (zstd-stored) version's text comes back whole."""
    archived = (await deployment.get(f"{deployment.item()}/versions/10")).json()
    assert archived["kind"] == "archived"
    assert len(archived["text"].encode()) == archived["text_bytes"] > 0


async def test_draft_and_published(deployment: Deployment) -> None:
    """The current draft is the newest version; the published one is the last publish."""
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    published = (await deployment.get(f"{deployment.item()}/published")).json()
    assert (draft["number"], draft["kind"]) == (SMALL.large_versions, "draft")
    assert (published["number"], published["kind"]) == (110, "published")
    assert draft["text"]
    assert published["text"]


async def test_unknown_ids_are_404(deployment: Deployment) -> None:
    """Unknown items and version numbers answer 404 with a message."""
    missing_item = await deployment.get("/contents/article/no-such-item/versions")
    missing_version = await deployment.get(f"{deployment.item()}/versions/99999")
    bad_number = await deployment.get(f"{deployment.item()}/versions/0")
    assert missing_item.status_code == 404
    assert "no content item" in missing_item.json()["detail"]
    assert missing_version.status_code == 404
    assert bad_number.status_code == 422


async def test_optimised_reads_are_served_from_the_cache(deployment: Deployment) -> None:
    """A repeated read is a cache hit in optimised mode."""
    before = deployment.state.caching.stats()["l1_hits"]
    for _ in range(3):
        await deployment.get(f"{deployment.item()}/published")
    assert deployment.state.caching.stats()["l1_hits"] >= before + 2
