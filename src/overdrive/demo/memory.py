"""Is the optimised server's memory at most linear in the number of versions?

The optimised app is served twice in the same run under the same load for the same
time: once on the full data set and once on one with half the versions per item. For
each, the memory the server takes on while it serves (RSS at the end of the load minus
RSS once it is up and idle) is divided by the versions seeded: MiB per 1,000 versions.
Memory that grows linearly keeps that figure constant; memory bounded by the cache's
size makes it fall as the data set grows; memory that grows faster than the data set
(a whole history loaded per request, an index held in memory per version pair) makes
it rise. The target is met when the figure at the larger size is at most the one at the
smaller size, within a tolerance for allocator noise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["LinearMemory", "MemoryAtSize", "half_sizes"]

MIB = 2**20
TOLERANCE = 0.25
"""The slope at the larger size may exceed the smaller one's by this share..."""
NOISE_BYTES = 16 * MIB
"""...or by this much memory in all, whichever is larger: RSS moves by a few MiB as the
allocator keeps or returns arenas, whatever the application does."""


@dataclass(frozen=True, slots=True)
class MemoryAtSize:
    """One optimised run's memory: what it took on while serving `versions` versions."""

    versions: int
    rss_idle_bytes: int
    rss_after_bytes: int

    @property
    def growth_bytes(self) -> int:
        return max(0, self.rss_after_bytes - self.rss_idle_bytes)

    @property
    def mib_per_thousand(self) -> float:
        return self.growth_bytes / MIB / (self.versions / 1000)


@dataclass(frozen=True, slots=True)
class LinearMemory:
    """Two sizes of the same run; `met` says whether growth stayed at most linear."""

    small: MemoryAtSize
    large: MemoryAtSize

    def __post_init__(self) -> None:
        if not 0 < self.small.versions < self.large.versions:
            raise ValueError("the two sizes need 0 < small.versions < large.versions")

    @property
    def bound_bytes(self) -> float:
        """The most the larger run may take on and still count as linear growth."""
        linear = self.small.growth_bytes * self.large.versions / self.small.versions
        return max(linear * (1 + TOLERANCE), linear + NOISE_BYTES)

    @property
    def met(self) -> bool:
        return self.large.growth_bytes <= self.bound_bytes

    def show(self) -> str:
        return (
            f"{self.small.mib_per_thousand:.2f} → {self.large.mib_per_thousand:.2f} "
            f"MiB/1k versions ({self.small.versions:,} → {self.large.versions:,})"
        )


def half_sizes(sizes: Any) -> Any:
    """The same items with half the versions each (at least one): the smaller data set.

    `sizes` is the reference app's `SeedSizes` (a frozen dataclass, imported lazily).
    """
    return dataclasses.replace(
        sizes,
        large_versions=max(1, sizes.large_versions // 2),
        versions=max(1, sizes.versions // 2),
    )
