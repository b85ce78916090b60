"""Counters the cache keeps as plain ints: cheap on the hot path, read by stats() and metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class CacheCounters:
    l1_hits: int = 0
    l1_misses: int = 0
    l2_hits: int = 0
    l2_misses: int = 0
    misses: int = 0
    stale_served: int = 0
    loader_runs: int = 0
    loader_errors: int = 0
    loader_seconds: float = 0.0
    coalesced: int = 0
    lease_waits: int = 0
    refused_stale_sets: int = 0
    invalidations: int = 0
    invalidated_reads: int = 0
    l2_errors: int = 0
    l2_skipped: int = 0
    background_refreshes: int = 0
    early_refreshes: int = 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
