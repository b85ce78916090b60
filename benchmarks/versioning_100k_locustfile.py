"""The load scenario of bench_versioning_100k.py: editors around one 100,000-version item.

Copied next to a `versioning-100k.json` (the item addresses, a token per user, deep
cursors, the compared pair, think time, and the request names, which the benchmark owns)
and handed to `overdrive load`. Every user reads the long history's listing (its first
page, and pages deep in it by following `next_cursor` from one of many cursors spread
over the history), compares the same two 100 KB versions, and autosaves: the first
`big_editors` users edit the 100k item itself (so its listing is invalidated under load,
as a live document's is), the others one of the other items each, so two of them rarely
edit one draft.

An autosave carries the lock_version its last save returned. A 409 is the
optimistic-concurrency protocol refusing a stale save: it is counted as a success under
its own name, and the user continues from the current lock_version the 409 carries.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, task

_arrivals = itertools.count()


@functools.cache
def config() -> dict[str, Any]:
    """The run's settings, read on first use: importing this module reads nothing."""
    loaded: dict[str, Any] = json.loads(
        Path(__file__).with_name("versioning-100k.json").read_text(encoding="utf-8")
    )
    loaded["big_path"] = "/contents/{}/{}".format(*loaded["big"])
    loaded["other_paths"] = ["/contents/{}/{}".format(*address) for address in loaded["others"]]
    return loaded


def _name(key: str) -> str:
    """A request name: the benchmark's table reads the figures by these names."""
    name: str = config()["names"][key]
    return name


class Editor(FastHttpUser):
    def wait_time(self) -> float:
        low, high = config()["think"]
        return random.uniform(low, high)

    def on_start(self) -> None:
        settings = config()
        index = next(_arrivals)
        token = settings["tokens"][index % len(settings["tokens"])]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.big: str = settings["big_path"]
        others, editors = settings["other_paths"], settings["big_editors"]
        big = index < editors or not others
        self.document = self.big if big else others[(index - editors) % len(others)]
        self.save_name = _name("autosave_big" if big else "autosave")
        self.lock: int | None = None
        self.text = ""
        self.cursor: str | None = None
        self.pages_left = 0
        with self.client.get(
            f"{self.document}/draft",
            headers=self.headers,
            name=_name("get_draft"),
            catch_response=True,
        ) as draft:
            if draft.status_code == 200:
                found = draft.json()
                self.lock, self.text = found["lock_version"], found["text"]
            elif draft.status_code == 404:
                draft.success()  # no draft yet: the first save starts one

    @task(3)
    def first_page(self) -> None:
        self.client.get(
            f"{self.big}/versions?limit=20", headers=self.headers, name=_name("list_first")
        )

    @task(4)
    def deep_page(self) -> None:
        """The next page of this user's walk; a new walk from a random depth every few."""
        if self.cursor is None or self.pages_left <= 0:
            settings = config()
            self.cursor = random.choice(settings["cursors"])
            self.pages_left = settings["walk_pages"]
        with self.client.get(
            f"{self.big}/versions?limit=20&cursor={self.cursor}",
            headers=self.headers,
            name=_name("list_deep"),
            catch_response=True,
        ) as page:
            self.cursor = page.json().get("next_cursor") if page.status_code == 200 else None
            self.pages_left -= 1

    @task(2)
    def compare(self) -> None:
        old, new = config()["pair"]
        self.client.get(
            f"{self.big}/compare?from={old}&to={new}", headers=self.headers, name=_name("compare")
        )

    @task(1)
    def autosave(self) -> None:
        self.text += f" Edit {random.randrange(1_000_000)}."
        with self.client.put(
            f"{self.document}/draft",
            json={"lock_version": self.lock, "text": self.text, "body": {"autosave": True}},
            headers=self.headers,
            name=self.save_name,
            catch_response=True,
        ) as saved:
            if saved.status_code in (200, 201):
                self.lock = saved.json()["lock_version"]
            elif saved.status_code == 409:
                current = saved.json()["detail"]["current"]
                self.lock = None if current is None else current["lock_version"]
                saved.request_meta["name"] = _name("conflict")
                saved.success()
