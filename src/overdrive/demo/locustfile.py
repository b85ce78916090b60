"""The demo's load scenario: a read-heavy editorial workload on the versioning API.

Copied next to a `demo-scenario.json` (base URL aside, everything the run needs: the
seeded items with their version counts, and the API tokens from the seed report) and
handed to `overdrive load`. Request names are the endpoint templates, so the before/after
table compares the same routes. Reads dominate — list, get, compare, preview — with
autosaves and the occasional publish, as an editing team produces them.

A 409 on autosave is the optimistic-concurrency protocol refusing a stale save, not a
server error: it is counted as a success. Publishes only touch items the previews never
show, so a preview never loses its draft mid-run.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task

CONFIG: dict[str, Any] = json.loads(
    Path(__file__).with_name("demo-scenario.json").read_text(encoding="utf-8")
)
ITEMS: list[tuple[str, str, int]] = [tuple(item) for item in CONFIG["items"]]
LARGE: list[tuple[str, str, int]] = [item for item in ITEMS if item[2] >= CONFIG["large_from"]]
PREVIEWED = ITEMS[0::2]
WRITTEN = ITEMS[1::2] or ITEMS
KINDS = ("", "published", "archived", "autosave")
EDIT = "The quick brown fox revises the paragraph again. " * 100


def _pick(pool: list[tuple[str, str, int]]) -> tuple[str, str, int]:
    # A third of the traffic goes to the items with long histories.
    return random.choice(LARGE) if LARGE and random.random() < 0.33 else random.choice(pool)


class Editor(FastHttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.reader = {"Authorization": f"Bearer {CONFIG['tokens']['viewer']}"}
        self.writer = {"Authorization": f"Bearer {CONFIG['tokens']['writer']}"}
        self.editor = {"Authorization": f"Bearer {CONFIG['tokens']['editor']}"}
        self.previews: list[str] = []
        for content_type, content_id, _count in random.sample(PREVIEWED, min(3, len(PREVIEWED))):
            response = self.client.post(
                f"/contents/{content_type}/{content_id}/previews",
                headers=self.writer,
                name="create preview",
            )
            if response.status_code == 201:
                self.previews.append(response.json()["url"])

    @task(30)
    def list_versions(self) -> None:
        content_type, content_id, _count = _pick(ITEMS)
        kind = random.choice(KINDS)
        query = f"?limit=20&kind={kind}" if kind else "?limit=20"
        self.client.get(
            f"/contents/{content_type}/{content_id}/versions{query}",
            headers=self.reader,
            name="list versions",
        )

    @task(20)
    def get_version(self) -> None:
        content_type, content_id, count = _pick(PREVIEWED)
        number = random.randint(1, count)
        self.client.get(
            f"/contents/{content_type}/{content_id}/versions/{number}",
            headers=self.reader,
            name="get version",
        )

    @task(15)
    def compare(self) -> None:
        content_type, content_id, count = _pick(PREVIEWED)
        new = random.randint(2, max(2, count))
        self.client.get(
            f"/contents/{content_type}/{content_id}/compare?from={new - 1}&to={new}",
            name="compare",
            headers=self.reader,
        )

    @task(15)
    def preview(self) -> None:
        if self.previews:
            self.client.get(random.choice(self.previews), name="preview")

    @task(6)
    def autosave(self) -> None:
        content_type, content_id, _count = random.choice(WRITTEN)
        base = f"/contents/{content_type}/{content_id}"
        with self.client.get(
            f"{base}/draft", headers=self.reader, name="get draft", catch_response=True
        ) as draft:
            lock = draft.json()["lock_version"] if draft.status_code == 200 else None
            if draft.status_code in (200, 404):
                draft.success()
        text = f"{EDIT}\nrevision {random.random()}"
        with self.client.put(
            f"{base}/draft",
            json={"lock_version": lock, "text": text, "body": {"edited": True}},
            headers=self.writer,
            name="autosave",
            catch_response=True,
        ) as saved:
            if saved.status_code in (200, 201, 409):
                saved.success()

    @task(1)
    def publish(self) -> None:
        content_type, content_id, _count = random.choice(WRITTEN)
        base = f"/contents/{content_type}/{content_id}"
        with self.client.get(
            f"{base}/draft", headers=self.reader, name="get draft", catch_response=True
        ) as draft:
            if draft.status_code != 200:
                draft.success()  # published already: nothing to publish
                return
            number = draft.json()["number"]
        self.client.post(f"{base}/versions/{number}/publish", headers=self.editor, name="publish")
