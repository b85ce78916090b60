"""Shared latency windows: what a worker writes for the others, and what it reuses."""

from __future__ import annotations

import json
from pathlib import Path

from overdrive.observe.shared_windows import SharedWindows
from overdrive.observe.sketches import LatencyWindows
from overdrive.testing import FakeClock


def test_flush_writes_what_to_json_says_and_reuses_only_unchanged_slots(
    tmp_path: Path,
) -> None:
    clock = FakeClock(1_800_000_000.0)
    windows = LatencyWindows(clock=clock)
    shared = SharedWindows(windows, tmp_path, pid=lambda: 101)
    written = tmp_path / "sketches" / "101.json"
    windows.record("/a", 0.010)
    windows.record("/b", 0.020, error=True)
    shared.flush()
    assert json.loads(written.read_text()) == json.loads(json.dumps(windows.to_json()))
    old_slot, old_text = next(iter(shared.slot_texts.items()))

    clock.now += windows.slot_seconds  # a new slot; the old one no longer changes
    windows.record("/a", 0.5)
    shared.flush()
    assert shared.slot_texts[old_slot] is old_text  # reused, not serialised again
    windows.record("/a", 0.7)  # the current slot changed: its text must follow
    windows.record("/c", 0.001)
    shared.flush()
    assert json.loads(written.read_text()) == json.loads(json.dumps(windows.to_json()))

    clock.now += windows.slot_seconds * windows.slots  # every slot leaves the window
    windows.record("/d", 0.1)
    shared.flush()
    assert list(shared.slot_texts) == [int(clock.now // windows.slot_seconds)]
    assert json.loads(written.read_text()) == json.loads(json.dumps(windows.to_json()))


def test_another_worker_merges_the_flushed_file(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    mine, theirs = LatencyWindows(clock=clock), LatencyWindows(clock=clock)
    for _ in range(3):
        theirs.record("/a", 0.2)
    SharedWindows(theirs, tmp_path, pid=lambda: 202).flush()
    mine.record("/a", 0.2)
    merged = SharedWindows(mine, tmp_path, pid=lambda: 101).merged()
    assert merged.summary(60, "/a").count == 4
