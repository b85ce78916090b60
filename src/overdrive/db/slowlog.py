"""Slow statements kept in a bounded ring buffer, each with its plan once captured.

Parameters are redacted by default (their types are kept, their values are not): slow
logs end up in dashboards and tickets, and parameters carry emails and tokens. Plans are
captured later, on another connection (see `plans.py`), and a rate limit keeps a burst of
slow statements from turning into a burst of `EXPLAIN`s against a database that is
already struggling.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PlanBudget", "SlowLog", "SlowQuery", "redact_parameters", "redact_plan"]

_PLAN_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w.$])-?\d+(?:\.\d+)?\b")


def redact_parameters(parameters: Any) -> Any:
    """Replace each parameter value by its type name, keeping the structure."""
    if isinstance(parameters, Mapping):
        return {str(key): f"<{type(value).__name__}>" for key, value in parameters.items()}
    if isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        return [f"<{type(value).__name__}>" for value in parameters]
    return f"<{type(parameters).__name__}>"


def redact_plan(plan: Any) -> Any:
    """Postgres prints parameter values into conditions (`name = 'a@b.c'::text`): mask them."""
    if isinstance(plan, dict):
        return {
            key: _PLAN_LITERAL.sub("?", value)
            if isinstance(value, str) and (key.endswith("Cond") or key.endswith("Filter"))
            else redact_plan(value)
            for key, value in plan.items()
        }
    if isinstance(plan, list):
        return [redact_plan(item) for item in plan]
    return plan


def _plain(parameters: Any) -> Any:
    """Parameters as JSON-ready data when shown unredacted."""
    if isinstance(parameters, Mapping):
        return {str(key): _plain(value) for key, value in parameters.items()}
    if isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        return [_plain(value) for value in parameters]
    if parameters is None or isinstance(parameters, bool | int | float | str):
        return parameters
    return repr(parameters)


@dataclass(slots=True)
class SlowQuery:
    """One statement that took at least `slow_query_ms`, with where it came from."""

    statement: str
    shape: str
    fingerprint: str
    parameters: Any
    duration_ms: float
    location: str
    recorded_at: float
    dialect: str
    plan: Any = None
    plan_error: str | None = None
    plan_status: str = "pending"  # pending | captured | skipped | failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "shape": self.shape,
            "fingerprint": self.fingerprint,
            "parameters": self.parameters,
            "duration_ms": round(self.duration_ms, 3),
            "location": self.location,
            "recorded_at": self.recorded_at,
            "dialect": self.dialect,
            "plan": self.plan,
            "plan_error": self.plan_error,
            "plan_status": self.plan_status,
        }


class PlanBudget:
    """At most `per_minute` plans a minute, and one per shape per `shape_interval` seconds.

    A token bucket refilled continuously; `clock` is injectable so tests need not sleep.
    """

    def __init__(
        self,
        *,
        per_minute: float = 30.0,
        shape_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = max(per_minute, 1.0)
        self.rate = per_minute / 60.0
        self.shape_interval = shape_interval
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self.last_by_shape: dict[str, float] = {}
        self.lock = threading.Lock()

    def allow(self, shape: str) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            last = self.last_by_shape.get(shape)
            if last is not None and now - last < self.shape_interval:
                return False
            if self.tokens < 1.0:
                return False
            self.tokens -= 1.0
            self.last_by_shape[shape] = now
            if len(self.last_by_shape) > 10_000:
                self.last_by_shape.clear()
            return True


@dataclass
class SlowLog:
    """A bounded ring buffer of slow statements, newest last."""

    size: int = 200
    redact: bool = True
    entries: deque[SlowQuery] = field(init=False)
    recorded: int = 0

    def __post_init__(self) -> None:
        self.entries = deque(maxlen=self.size)

    def record(
        self,
        *,
        statement: str,
        shape: str,
        fingerprint: str,
        parameters: Any,
        duration_ms: float,
        location: str,
        dialect: str,
    ) -> SlowQuery:
        entry = SlowQuery(
            statement=statement,
            shape=shape,
            fingerprint=fingerprint,
            parameters=redact_parameters(parameters) if self.redact else _plain(parameters),
            duration_ms=duration_ms,
            location=location,
            recorded_at=time.time(),
            dialect=dialect,
        )
        self.entries.append(entry)
        self.recorded += 1
        return entry

    def snapshot(self) -> list[dict[str, Any]]:
        return [entry.as_dict() for entry in list(self.entries)]
