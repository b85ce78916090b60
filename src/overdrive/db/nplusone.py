"""N+1 detection: one statement shape executed `threshold` times inside one scope.

A lazy-loaded relationship read in a loop and an explicit query in a loop look the same
from the connection: the same shape, again and again, with different parameters. A batch
`IN (...)` query is one execution and never counts. Each shape is reported once per scope,
when its count reaches the threshold (the Sentry default is 5).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from overdrive.db.callsite import calling_location
from overdrive.db.errors import NPlusOneError
from overdrive.db.normalize import fingerprint
from overdrive.db.stats import QueryStats

__all__ = ["NPlusOneDetector", "NPlusOneReport"]

logger = logging.getLogger("overdrive.db")


@dataclass(frozen=True, slots=True)
class NPlusOneReport:
    """One detected N+1: the repeated shape and the application line that issued it."""

    shape: str
    fingerprint: str
    count: int
    threshold: int
    location: str
    detected_at: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class NPlusOneDetector:
    """Counts detections, keeps the latest reports, and raises in test mode."""

    def __init__(self, *, threshold: int, raise_errors: bool, keep: int = 100) -> None:
        self.threshold = threshold
        self.raise_errors = raise_errors
        self.detections = 0
        self.reports: deque[NPlusOneReport] = deque(maxlen=keep)

    def check(self, scope: QueryStats, shape: str, count: int) -> None:
        """Called with a shape's running count in `scope`; reports once at the threshold."""
        if count < self.threshold or shape in scope.reported:
            return
        scope.reported.add(shape)
        report = NPlusOneReport(
            shape=shape,
            fingerprint=fingerprint(shape),
            count=count,
            threshold=self.threshold,
            location=calling_location(),
            detected_at=time.time(),
        )
        self.detections += 1
        self.reports.append(report)
        logger.warning(
            "N+1 queries: %d executions of %r issued from %s",
            count,
            shape,
            report.location,
        )
        if self.raise_errors:
            raise NPlusOneError(report)
