"""The local tag-version table: monotonic versions, soft floors, bounded size."""

from __future__ import annotations

from overdrive.cache.tags import DEAD, SOFT_STALE, VALID, TagVersions, new_version


def test_versions_only_grow() -> None:
    """Observing an older version never moves the table backwards."""
    table = TagVersions()
    table.observe("t", 10)
    table.observe("t", 5)
    assert table.current["t"] == 10


def test_status_of_snapshots() -> None:
    """Equal versions are valid, older ones dead, unknown tags dead."""
    table = TagVersions()
    table.observe("a", 10)
    table.observe("b", 20)
    assert table.status((("a", 10), ("b", 20))) == VALID
    assert table.status((("a", 9), ("b", 20))) == DEAD
    assert table.status((("a", 10), ("unknown", 1))) == DEAD


def test_soft_bump_makes_entries_stale_not_dead() -> None:
    """After a soft bump, snapshots at or above the floor are soft-stale; a hard bump kills."""
    table = TagVersions()
    table.observe("t", 100)
    table.bump(["t"], soft=True)
    assert table.status((("t", 100),)) == SOFT_STALE
    table.bump(["t"], soft=False)
    assert table.status((("t", 100),)) == DEAD


def test_a_snapshot_newer_than_the_table_is_not_trusted() -> None:
    """A version from the future means this table lags: L1 must not vouch for it."""
    table = TagVersions()
    table.observe("t", 10)
    assert table.status((("t", 11),)) == DEAD


def test_the_table_is_bounded() -> None:
    """Past max_tags the oldest tenth is dropped (their entries re-learn from L2)."""
    table = TagVersions(max_tags=100)
    for index in range(250):
        table.observe(f"t{index}", 1)
    assert len(table) <= 100
    assert "t249" in table.current


def test_new_versions_are_time_based_and_increasing() -> None:
    """A new version is above the previous one even when the clock is behind it."""
    far_future = new_version() + 10**12
    assert new_version(far_future) == far_future + 1
    assert new_version(0) > 1_600_000_000 * 10**6


def test_reset_takes_the_authoritative_value() -> None:
    """A resync takes Redis' value as it is, even if lower."""
    table = TagVersions()
    table.observe("t", 50)
    table.reset("t", 40, None)
    assert table.current["t"] == 40


def test_unknown_and_outdated_snapshots() -> None:
    """unknown() names tags the table cannot judge; outdated() spots local newer versions."""
    table = TagVersions()
    table.observe("a", 10)
    assert table.unknown((("a", 10), ("b", 5), ("a", 11))) == ["b", "a"]
    assert not table.outdated((("a", 10),))
    table.bump(["a"], soft=False)  # e.g. invalidated here while Redis was unreachable
    assert table.outdated((("a", 10),))
