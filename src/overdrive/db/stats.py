"""Per-request statement counts, opened as a scope and carried by a context variable.

A scope is what the HTTP middleware wraps around each request (for `Server-Timing`) and
what `watch()` wraps around a block of user code. Scopes nest: a statement counts in
every open scope of the context, so a `watch()` inside a request also feeds the request.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["QueryStats"]


class QueryStats:
    """Statements seen inside one scope: how many, how long, and of which shapes.

    `shapes` maps each normalised statement to its number of executions; it stays empty
    when the scope was not sampled (`sample_rate` < 1), while `count` and `duration_ms`
    are always kept because they cost two additions.
    """

    __slots__ = ("count", "duration_ms", "parent", "reported", "sampled", "shapes")

    def __init__(self, *, sampled: bool = True, parent: QueryStats | None = None) -> None:
        self.count = 0
        self.duration_ms = 0.0
        self.shapes: Counter[str] = Counter()
        self.sampled = sampled
        self.parent = parent
        self.reported: set[str] = set()

    def server_timing(self, name: str = "db") -> str:
        """The `Server-Timing` entry for this scope: `db;dur=12.3;desc="4 queries"`."""
        noun = "query" if self.count == 1 else "queries"
        return f'{name};dur={self.duration_ms:.1f};desc="{self.count} {noun}"'

    def as_dict(self) -> dict[str, Any]:
        """Plain data for logs and the dashboard."""
        return {
            "count": self.count,
            "duration_ms": round(self.duration_ms, 3),
            "shapes": dict(self.shapes),
        }

    def __repr__(self) -> str:
        return f"QueryStats(count={self.count}, duration_ms={self.duration_ms:.3f})"
