"""Wall-clock time behind a seam, so TTL and SWR tests move time instead of sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> float: ...


system_clock: Clock = time.time
