"""Fifty editors autosave one draft at once through both workers: no write is lost.

Every editor reads the draft, then all send their edit together, each carrying the
lock_version it read. Optimistic concurrency lets exactly one edit per lock_version in;
the others get 409 with the current version, re-read that version and try again. Each
edit appends the editor's line to the text it read, so a lost update would show up as a
missing line in the final draft, and the history must hold exactly fifty new versions.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Deployment, eventually

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

EDITORS = 50


@dataclass
class Outcome:
    editor: int
    worker: int
    number: int = 0
    conflicts: int = 0
    refusals: list[dict[str, Any]] = field(default_factory=list)


def _line(editor: int) -> str:
    return f"edit by editor {editor:02d}"


async def _edit(
    editor: int,
    clients: tuple[httpx.AsyncClient, ...],
    deployment: Deployment,
    item: str,
    all_read: asyncio.Barrier,
) -> Outcome:
    """Read the draft, then save `text + line` with its lock_version until one is applied."""
    worker = editor % 2
    client, other = clients[worker], clients[1 - worker]
    headers = deployment.auth("writer")
    read = await client.get(f"{item}/draft", headers=headers)
    assert read.status_code == 200, read.text
    lock_version, text = read.json()["lock_version"], read.json()["text"]
    outcome = Outcome(editor, worker)
    await all_read.wait()  # everyone holds the same lock_version: maximal contention
    rng = random.Random(editor)
    while True:
        saved = await client.put(
            f"{item}/draft",
            headers=headers,
            json={"lock_version": lock_version, "text": f"{text}\n{_line(editor)}",
                  "body": {"editor": editor}},
        )
        if saved.status_code == 200:
            outcome.number = saved.json()["number"]
            assert saved.json()["lock_version"] == outcome.number
            return outcome
        assert saved.status_code == 409, (saved.status_code, saved.text)
        current = saved.json()["detail"]["current"]
        outcome.refusals.append({"sent": lock_version, "current": current})
        outcome.conflicts += 1
        # The version the 409 names is immutable text: read it from the other worker.
        fetched = await other.get(f"{item}/versions/{current['number']}", headers=headers)
        assert fetched.status_code == 200, fetched.text
        lock_version, text = current["lock_version"], fetched.json()["text"]
        # Exponential backoff with full jitter spreads the losers over the next rounds.
        await asyncio.sleep(rng.uniform(0, 0.05 * 2 ** min(outcome.conflicts - 1, 4)))


async def test_fifty_concurrent_autosaves_lose_no_write(
    deployment: Deployment, clients: tuple[httpx.AsyncClient, ...]
) -> None:
    item = deployment.item(0)
    headers = deployment.auth()
    before = (await clients[0].get(f"{item}/versions", params={"limit": 100},
                                   headers=headers)).json()["items"]
    first_draft = before[0]
    assert first_draft["kind"] == "draft"
    start_text = (await clients[0].get(f"{item}/draft", headers=headers)).json()["text"]

    all_read = asyncio.Barrier(EDITORS)
    outcomes = await asyncio.gather(
        *(_edit(editor, clients, deployment, item, all_read) for editor in range(EDITORS))
    )

    # Every refusal was a real conflict and named the draft that was current instead.
    refusals = [refusal for outcome in outcomes for refusal in outcome.refusals]
    assert all(r["current"]["kind"] == "draft" for r in refusals)
    assert all(r["current"]["lock_version"] > r["sent"] for r in refusals)  # moved on
    # All fifty read one lock_version before anyone saved: only one of them could win it.
    assert len(refusals) >= EDITORS - 1
    assert {outcome.worker for outcome in outcomes if outcome.conflicts} == {0, 1}

    # Each edit applied exactly once, as one new version each, numbered densely.
    numbers = sorted(outcome.number for outcome in outcomes)
    base = first_draft["number"]
    assert numbers == list(range(base + 1, base + EDITORS + 1))

    # The final draft, seen from both workers, holds every editor's line exactly once, in
    # the order the edits were applied: each edit was made on top of the one before.
    applied_order = [o.editor for o in sorted(outcomes, key=lambda o: o.number)]
    expected_text = start_text + "".join(f"\n{_line(editor)}" for editor in applied_order)

    for client in clients:

        async def final_draft_is_complete(client: httpx.AsyncClient = client) -> None:
            draft = (await client.get(f"{item}/draft", headers=headers)).json()
            assert draft["number"] == base + EDITORS
            assert draft["text"] == expected_text

        await eventually(final_draft_is_complete)

    # The history accounts for all fifty: the old draft and 49 edits became autosaves.
    async def history_is_complete() -> None:
        after = (await clients[1].get(f"{item}/versions", params={"limit": 100},
                                      headers=headers)).json()["items"]
        assert len(after) == len(before) + EDITORS
        assert [v["number"] for v in after[: EDITORS + 1]] == list(
            range(base + EDITORS, base - 1, -1)
        )
        assert after[0]["kind"] == "draft"
        assert {v["kind"] for v in after[1 : EDITORS + 1]} == {"autosave"}
        assert {v["author"] for v in after[:EDITORS]} == {"writer"}

    await eventually(history_is_complete)
