"""Latency windows of every worker, merged: each flushes its sketches to a shared folder.

Workers of one host share the multi-process metrics folder; each writes its windows to
`sketches/<pid>.json` (write then rename, so a reader never sees half a file) about once a
second, and whoever serves the dashboard merges the files of the others with its own
in-memory windows. A dead worker's file keeps counting until its slots leave the window.

Of the 30 slots a file holds, usually only the current one changed since the last flush:
each slot's JSON text is kept with a signature of its contents and reused while that is
unchanged, so the once-a-second flush serialises one slot, not five minutes of sketches
(with 50 busy routes, re-serialising all of them cost a worker about 0.1 s a second).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from overdrive.observe.multiprocess import pid_alive
from overdrive.observe.sketches import LatencyWindows

__all__ = ["SharedWindows"]


class SharedWindows:
    """The local `LatencyWindows` plus, when `directory` is set, the other workers' files."""

    def __init__(self, local: LatencyWindows, directory: str | os.PathLike[str] | None = None,
                 *, pid: Callable[[], int] = os.getpid, cache_seconds: float = 1.0) -> None:
        self.local = local
        self.directory = Path(directory) / "sketches" if directory is not None else None
        self.pid = pid
        self.cache_seconds = cache_seconds
        self.merged_at = -1.0
        self.merged_view: LatencyWindows | None = None
        self.slot_texts: dict[int, tuple[tuple[int, int], str]] = {}
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def flush(self) -> None:
        if self.directory is None:
            return
        target = self.directory / f"{self.pid()}.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(self.serialised())
        os.replace(temporary, target)

    def serialised(self) -> str:
        """`json.dumps(local.to_json())`, compact, built from each slot's cached text."""
        local = self.local
        texts: dict[int, tuple[tuple[int, int], str]] = {}
        for index in local.by_slot:
            signature = local.slot_signature(index)
            cached = self.slot_texts.get(index)
            if cached is None or cached[0] != signature:
                cached = (signature, json.dumps(local.slot_json(index), separators=(",", ":")))
            texts[index] = cached
        self.slot_texts = texts  # slots that left the window are forgotten here
        slots = ",".join(f'"{index}":{text}' for index, (_, text) in texts.items())
        return f'{{"slot_seconds":{json.dumps(local.slot_seconds)},"slots":{{{slots}}}}}'

    def merged(self) -> LatencyWindows:
        if self.directory is None:
            return self.local
        now = time.monotonic()
        if self.merged_view is not None and now - self.merged_at < self.cache_seconds:
            return self.merged_view
        view = LatencyWindows(self.local.slot_seconds, self.local.slots, self.local.clock)
        view.merge(self.local)
        horizon = self.local.slot_seconds * self.local.slots
        own = f"{self.pid()}.json"
        for path in self.directory.glob("*.json"):
            if path.name == own:
                continue
            try:
                age = time.time() - path.stat().st_mtime
                if age > horizon and not pid_alive(int(path.stem)):
                    path.unlink()
                    continue
                view.merge_json(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # a file being replaced or removed right now: next poll sees it
        self.merged_view, self.merged_at = view, now
        return view

