"""The log of recent invalidations that guards stores against the stale-set race."""

from __future__ import annotations

from overdrive.http.invalidation_log import InvalidationLog


def test_nothing_since_means_store() -> None:
    """No invalidation after the start: the store goes ahead."""
    log = InvalidationLog()
    start = log.generation
    assert not log.since(start, ["a"])


def test_only_overlapping_tags_refuse() -> None:
    """An invalidation of another tag does not refuse the store; one of its tags does."""
    log = InvalidationLog()
    start = log.generation
    log.record(["b"])
    assert not log.since(start, ["a"])
    log.record(["a", "c"])
    assert log.since(start, ["a"])


def test_overflowed_log_refuses_conservatively() -> None:
    """When the log no longer reaches back to the start, the store is refused."""
    log = InvalidationLog(size=2)
    start = log.generation
    for tag in ("x", "y", "z"):
        log.record([tag])
    assert log.since(start, ["unrelated"])
