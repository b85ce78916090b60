"""The process-local table of tag versions that L1 entries are checked against.

A tag's version only grows. An invalidation raises it (here, in Redis, and through the
bus in every other process); an entry whose snapshot holds an older version is dead.
A soft invalidation also records a floor: entries at or above the floor are stale
rather than dead, which is what a CDN's soft purge means.

Versions are keyed by the full Redis tag key, so one tag in several cluster slot groups
is several independent counters that never need to agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from overdrive.cache.entry import Snapshot

DEAD = 0
VALID = 1
SOFT_STALE = 2

DEFAULT_MAX_TAGS = 1_000_000


def new_version(previous: int = 0) -> int:
    """Microseconds since the epoch, and always above `previous`.

    Time-based rather than 1, 2, 3: a tag key evicted from Redis comes back with a
    version no old snapshot can hold, so eviction never resurrects an invalidated entry.
    """
    return max(previous + 1, time.time_ns() // 1000)


class TagVersions:
    __slots__ = ("current", "floors", "max_tags")

    def __init__(self, max_tags: int = DEFAULT_MAX_TAGS) -> None:
        self.current: dict[str, int] = {}
        self.floors: dict[str, int] = {}
        self.max_tags = max_tags

    def __len__(self) -> int:
        return len(self.current)

    def status(self, snapshot: Snapshot) -> int:
        """VALID, SOFT_STALE or DEAD for an entry's snapshot; an unknown tag counts as DEAD.

        The common case, every version equal, is one dict lookup per tag.
        """
        current = self.current
        for key, version in snapshot:
            if current.get(key) != version:
                return self._slow_status(snapshot)
        return VALID

    def _slow_status(self, snapshot: Snapshot) -> int:
        result = VALID
        for key, version in snapshot:
            now = self.current.get(key)
            if now == version:
                continue
            floor = self.floors.get(key)
            if now is None or version > now or floor is None or version < floor:
                # Unknown, from the future (our table lags: check L2), or hard-invalidated.
                return DEAD
            result = SOFT_STALE
        return result

    def unknown(self, snapshot: Snapshot) -> list[str]:
        """Tag keys this table cannot judge: never seen, or seen at an older version."""
        current = self.current
        return [key for key, version in snapshot if current.get(key, -1) < version]

    def outdated(self, snapshot: Snapshot) -> bool:
        """Whether this table knows a newer version of any tag than the snapshot holds.

        Redis may vouch for an entry that this process has invalidated locally while
        Redis was unreachable (the bump is queued): this process must not serve it.
        """
        current = self.current
        return any(current.get(key, -1) > version for key, version in snapshot)

    def observe(self, key: str, version: int, floor: int | None = None) -> None:
        """Learn a version seen in Redis or on the bus; never move backwards."""
        known = self.current.get(key)
        if known is None:
            if len(self.current) >= self.max_tags:
                self._shrink()
            self.current[key] = version
        elif version > known:
            self.current[key] = version
        else:
            return
        if floor is None or floor >= version:
            self.floors.pop(key, None)
        else:
            self.floors[key] = floor

    def reset(self, key: str, version: int, floor: int | None) -> None:
        """Take Redis' value as it is (a resync after a gap: Redis is the authority)."""
        if key not in self.current and len(self.current) >= self.max_tags:
            self._shrink()
        self.current[key] = version
        if floor is None or floor >= version:
            self.floors.pop(key, None)
        else:
            self.floors[key] = floor

    def observe_snapshot(self, snapshot: Snapshot) -> None:
        for key, version in snapshot:
            if self.current.get(key) != version:
                self.observe(key, version)

    def snapshot(self, keys: Iterable[str]) -> Snapshot:
        """Current versions of `keys`, creating the unknown ones (L1-only mode)."""
        current = self.current
        pairs = []
        for key in keys:
            version = current.get(key)
            if version is None:
                version = new_version()
                self.observe(key, version)
            pairs.append((key, version))
        return tuple(pairs)

    def bump(self, keys: Iterable[str], soft: bool) -> list[tuple[str, int, int | None]]:
        """Invalidate locally (L1-only mode); returns (key, version, floor) as the bus carries."""
        changes = []
        for key in keys:
            old = self.current.get(key, 0)
            version = new_version(old)
            floor = (self.floors.get(key, old) if old else None) if soft else None
            self.observe(key, version, floor)
            changes.append((key, version, floor))
        return changes

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.current.pop(key, None)
            self.floors.pop(key, None)

    def _shrink(self) -> None:
        # Drop the oldest tenth: entries under those tags miss L1 once and re-learn from L2.
        drop = max(1, len(self.current) // 10)
        for key in list(self.current)[:drop]:
            del self.current[key]
            self.floors.pop(key, None)
