"""Autosave with optimistic concurrency, publish, and the caches they invalidate."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest

from examples.versioning import compression_report
from examples.versioning.caching import TieredCaching
from tests.examples.conftest import SMALL, Deploy, Deployment


async def _save(
    deployment: Deployment, lock_version: int | None, text: str, user: str = "writer"
) -> httpx.Response:
    return await deployment.client.put(
        f"{deployment.item()}/draft",
        headers=deployment.auth(user),
        json={"lock_version": lock_version, "text": text, "body": {"note": text[:20]}},
    )


async def test_autosave_advances_the_draft(deployment: Deployment) -> None:
    """A save with the current lock_version makes a new draft; the old one is an autosave."""
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    response = await _save(deployment, draft["lock_version"], "Edited text.")
    assert response.status_code == 200
    saved = response.json()
    assert saved["number"] == draft["number"] + 1
    assert saved["author"] == "writer"
    current = (await deployment.get(f"{deployment.item()}/draft")).json()
    assert (current["number"], current["text"]) == (saved["number"], "Edited text.")
    previous = (await deployment.get(f"{deployment.item()}/versions/{draft['number']}")).json()
    assert previous["kind"] == "autosave"
    assert previous["text"] == draft["text"]


async def test_stale_lock_version_is_409_with_the_current_draft(deployment: Deployment) -> None:
    """A save based on an old draft is refused with 409 and the draft to merge with."""
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    first = await _save(deployment, draft["lock_version"], "first")
    stale = await _save(deployment, draft["lock_version"], "second")
    missing = await _save(deployment, None, "third")
    assert first.status_code == 200
    for response in (stale, missing):
        assert response.status_code == 409
        assert response.json()["detail"]["current"]["lock_version"] == first.json()["lock_version"]
    current = (await deployment.get(f"{deployment.item()}/draft")).json()
    assert current["text"] == "first"


async def test_fifty_concurrent_autosaves_from_one_base_let_exactly_one_win(
    deployment: Deployment,
) -> None:
    """50 saves from the same draft: one 200, 49 conflicts, and the winner's text is kept."""
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    responses = await asyncio.gather(
        *(_save(deployment, draft["lock_version"], f"writer {index}") for index in range(50))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [409] * 49
    winner = next(response for response in responses if response.status_code == 200)
    current = (await deployment.get(f"{deployment.item()}/draft")).json()
    assert current["number"] == winner.json()["number"]
    assert current["text"].startswith("writer ")


async def test_fifty_concurrent_writers_lose_no_write(deployment: Deployment) -> None:
    """50 writers retrying on 409 all land: every text is in the history exactly once."""

    async def writer(index: int) -> int:
        lock_version = (await deployment.get(f"{deployment.item()}/draft")).json()["lock_version"]
        for _attempt in range(200):
            response = await _save(deployment, lock_version, f"text from writer {index}")
            if response.status_code == 200:
                return int(response.json()["number"])
            assert response.status_code == 409
            lock_version = response.json()["detail"]["current"]["lock_version"]
            # Back off a little, as an editor's client would: fewer saves doomed to conflict.
            await asyncio.sleep(random.random() * 0.02)
        raise AssertionError("writer never got its save in")

    numbers = await asyncio.gather(*(writer(index) for index in range(50)))
    first = SMALL.large_versions + 1
    assert sorted(numbers) == list(range(first, first + 50))
    texts = []
    for number in numbers:
        version = (await deployment.get(f"{deployment.item()}/versions/{number}")).json()
        texts.append(version["text"])
    assert sorted(texts) == sorted(f"text from writer {index}" for index in range(50))
    kinds = [
        entry["kind"]
        for entry in (
            await deployment.get(f"{deployment.item()}/versions", params={"limit": 51})
        ).json()["items"]
    ]
    assert kinds == ["draft"] + ["autosave"] * 50


async def test_autosave_starts_a_draft_when_there_is_none(deployment: Deployment) -> None:
    """After the draft is published, lock_version null starts a new draft (201)."""
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    published = await deployment.client.post(
        f"{deployment.item()}/versions/{draft['number']}/publish", headers=deployment.auth()
    )
    assert published.status_code == 200
    assert (await deployment.get(f"{deployment.item()}/draft")).status_code == 404
    stale = await _save(deployment, draft["lock_version"], "late edit")
    assert stale.status_code == 409
    assert stale.json()["detail"]["current"] is None
    created = await _save(deployment, None, "a new draft")
    assert created.status_code == 201


async def test_oversized_bodies_are_413(deploy: Deploy) -> None:
    """A request body or a text over the limits is refused with 413, before a write."""
    deployment = await deploy(max_request_bytes=20_000, max_text_bytes=5_000)
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    too_long_text = await _save(deployment, draft["lock_version"], "é" * 3_000)
    too_big_request = await _save(deployment, draft["lock_version"], "x" * 30_000)

    async def chunks() -> Any:
        for _ in range(30):
            yield b"x" * 1_000

    streamed = await deployment.client.put(
        f"{deployment.item()}/draft",
        headers=deployment.auth() | {"content-type": "application/json"},
        content=chunks(),
    )
    for response in (too_long_text, too_big_request, streamed):
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]
    current = (await deployment.get(f"{deployment.item()}/draft")).json()
    assert current["number"] == draft["number"]


async def test_malformed_autosave_is_422(deployment: Deployment) -> None:
    """A body without text, or with a non-integer lock_version, is a validation error."""
    for payload in ({"lock_version": 1}, {"lock_version": "x", "text": "t"}):
        response = await deployment.client.put(
            f"{deployment.item()}/draft", headers=deployment.auth(), json=payload
        )
        assert response.status_code == 422


async def test_publish_archives_the_previous_published_version(deployment: Deployment) -> None:
    """Publishing version N archives the old published one, its body compressed."""
    before = (await deployment.get(f"{deployment.item()}/published")).json()
    response = await deployment.client.post(
        f"{deployment.item()}/versions/115/publish", headers=deployment.auth("editor")
    )
    assert response.status_code == 200
    assert response.json()["archived"] == before["number"]
    old = (await deployment.get(f"{deployment.item()}/versions/{before['number']}")).json()
    assert old["kind"] == "archived"
    assert old["text"] == before["text"]
    async with deployment.state.sessions() as session:
        report = await compression_report(session)
    # Seeded: 10 archived in the large item, 1 in each small one; plus the one just archived.
    assert report.archived_versions == 10 + 2 + 1
    assert report.ratio > 1.5


async def test_publish_an_archived_version_restores_its_text(deployment: Deployment) -> None:
    """Republishing an archived version brings its text back uncompressed."""
    archived = (await deployment.get(f"{deployment.item()}/versions/50")).json()
    response = await deployment.client.post(
        f"{deployment.item()}/versions/50/publish", headers=deployment.auth()
    )
    assert response.status_code == 200
    published = (await deployment.get(f"{deployment.item()}/published")).json()
    assert (published["number"], published["text"]) == (50, archived["text"])


async def test_publish_errors(deployment: Deployment) -> None:
    """Unknown version 404; a user without the publish permission 403."""
    missing = await deployment.client.post(
        f"{deployment.item()}/versions/9999/publish", headers=deployment.auth()
    )
    forbidden = await deployment.client.post(
        f"{deployment.item()}/versions/5/publish", headers=deployment.auth("writer")
    )
    assert missing.status_code == 404
    assert forbidden.status_code == 403


@pytest.mark.parametrize("redis", [False, True])
async def test_publish_invalidates_cached_published_list_and_preview(
    deploy: Deploy, redis: bool, request: pytest.FixtureRequest
) -> None:
    """Cached published, list and preview responses show the publish on the next read."""
    redis_url = request.getfixturevalue("redis_url") if redis else None
    deployment = await deploy(redis_url=redis_url)
    item = deployment.item()
    preview = (await deployment.client.post(f"{item}/previews", headers=deployment.auth())).json()

    def hits() -> int:
        stats = deployment.state.caching.stats()
        return int(stats["l1_hits"] + stats["l2_hits"])

    rounds = 0
    for _ in range(2):
        rounds += 1
        before = hits()
        published = (await deployment.get(f"{item}/published")).json()
        listing = (await deployment.get(f"{item}/versions", params={"limit": 3})).json()
        previewed = await deployment.client.get(preview["url"])
    # The second round came from the cache: the three responses and the token lookups.
    assert rounds == 2
    assert hits() - before >= 3
    assert previewed.status_code == 200
    draft_number = listing["items"][0]["number"]
    response = await deployment.client.post(
        f"{item}/versions/{draft_number}/publish", headers=deployment.auth()
    )
    assert response.status_code == 200
    new_published = (await deployment.get(f"{item}/published")).json()
    new_listing = (await deployment.get(f"{item}/versions", params={"limit": 3})).json()
    new_preview = await deployment.client.get(preview["url"])
    assert published["number"] != new_published["number"] == draft_number
    assert listing["items"][0]["kind"] == "draft"
    assert new_listing["items"][0]["kind"] == "published"
    assert new_preview.status_code == 404


async def test_compare_returns_line_and_word_diffs(deployment: Deployment) -> None:
    """compare shows the changed lines and the changed words, with counts."""
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    text = draft["text"] + "\n\nA brand new closing paragraph."
    saved = (await _save(deployment, draft["lock_version"], text)).json()
    response = await deployment.get(
        f"{deployment.item()}/compare", params={"from": draft["number"], "to": saved["number"]}
    )
    assert response.status_code == 200
    diff = response.json()
    assert "+A brand new closing paragraph." in diff["lines"]
    assert diff["stats"]["lines_removed"] == 0
    assert diff["stats"]["words_added"] == 5
    inserted = [part for hunk in diff["word_hunks"] for part in hunk["words"]]
    assert any("closing paragraph" in part["text"] for part in inserted if part["op"] == "insert")


async def test_compare_is_precomputed_in_the_background_and_cached(
    deployment: Deployment,
) -> None:
    """After an autosave the diff against the previous version is already cached."""
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    saved = (await _save(deployment, draft["lock_version"], draft["text"] + " More.")).json()
    await deployment.state.drain()
    caching = deployment.state.caching
    assert isinstance(caching, TieredCaching)
    entry = await caching.cache.get_entry(f"diff:1:{draft['number']}:{saved['number']}")
    assert entry is not None
    assert entry.value["to"] == saved["number"]


async def test_compare_errors(deployment: Deployment) -> None:
    """Comparing with an unknown version is 404; a missing parameter is 422."""
    missing = await deployment.get(f"{deployment.item()}/compare", params={"from": 1, "to": 9999})
    incomplete = await deployment.get(f"{deployment.item()}/compare", params={"from": 1})
    assert missing.status_code == 404
    assert incomplete.status_code == 422
