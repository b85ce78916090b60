"""Alert rules: what is measured, against which threshold, for how long.

A rule names one of a small catalogue of measures rather than free PromQL, because the same
rule must be evaluated in process (from the live sketches and gauges) and exported as a
Prometheus rule (from the scraped series); the catalogue is where the two are kept equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from overdrive.errors import ConfigurationError

__all__ = ["MEASURES", "AlertRule", "format_duration", "parse_duration"]

Comparison = Literal[">", "<"]

# measure -> (unit, what it means); the unit drives how thresholds are shown.
MEASURES: dict[str, tuple[str, str]] = {
    "latency_p50": ("seconds", "median request latency"),
    "latency_p95": ("seconds", "95th percentile request latency"),
    "latency_p99": ("seconds", "99th percentile request latency"),
    "error_rate": ("ratio", "share of requests answered with a 5xx status"),
    "request_rate": ("per_second", "requests per second"),
    "cache_hit_ratio": ("ratio", "share of cache lookups served by a tier"),
    "memory_fraction": ("ratio", "resident memory of all workers over the configured limit"),
    "event_loop_lag": ("seconds", "largest event-loop lag among workers"),
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | float | int, *, name: str = "duration") -> float:
    """Seconds from `1m`, `30s`, `500ms`, `2h` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise ConfigurationError(f"{name}: {value!r} is not a duration such as 500ms, 30s, 1m")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ConfigurationError(f"{name}: a duration cannot be negative ({value!r})")
    return seconds


def format_duration(seconds: float) -> str:
    """Prometheus duration text (`1m`, `30s`, `500ms`) for a number of seconds."""
    if seconds == 0:
        return "0s"
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class AlertRule:
    """One alert: `measure` compared with `threshold` over `window`, true for `for_` seconds.

        AlertRule("SlowCheckout", "latency_p95", ">", 0.25, route="/checkout/{id}",
                  window=60, for_=60, severity="critical", runbook_url="https://...")

    `keep_firing_for` keeps a firing alert up that long after its condition clears, so a
    value hovering around the threshold does not page on every crossing.
    """

    name: str
    measure: str
    comparison: Comparison
    threshold: float
    window: float = 60.0
    for_: float = 60.0
    keep_firing_for: float = 0.0
    severity: str = "warning"
    route: str | None = None
    summary: str = ""
    runbook_url: str = ""
    labels: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ConfigurationError(f"alert name {self.name!r}: letters, digits and _ only")
        if self.measure not in MEASURES:
            known = ", ".join(sorted(MEASURES))
            raise ConfigurationError(
                f"alert {self.name}: unknown measure {self.measure!r} ({known})")
        if self.comparison not in (">", "<"):
            raise ConfigurationError(f"alert {self.name}: comparison must be > or <")
        if self.window <= 0:
            raise ConfigurationError(f"alert {self.name}: window must be positive")
        if self.for_ < 0 or self.keep_firing_for < 0:
            raise ConfigurationError(f"alert {self.name}: for and keep_firing_for must be >= 0")
        if self.route is not None and not self.measure.startswith(("latency_", "error_rate")):
            raise ConfigurationError(f"alert {self.name}: {self.measure} has no per-route value")

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.comparison == ">" else value < self.threshold

    @property
    def unit(self) -> str:
        return MEASURES[self.measure][0]

    def describe_threshold(self) -> str:
        """The threshold as people read it: `500ms`, `1%`, `70%`."""
        if self.unit == "seconds":
            return format_duration(self.threshold)
        if self.unit == "ratio":
            return f"{self.threshold * 100:g}%"
        return f"{self.threshold:g}/s"

    def default_summary(self) -> str:
        where = f" on {self.route}" if self.route else ""
        return (
            f"{MEASURES[self.measure][1]}{where} {self.comparison} {self.describe_threshold()} "
            f"for {format_duration(self.for_)}"
        )

    @property
    def annotations(self) -> dict[str, str]:
        notes = {"summary": self.summary or self.default_summary()}
        if self.runbook_url:
            notes["runbook_url"] = self.runbook_url
        return notes

    @property
    def all_labels(self) -> dict[str, str]:
        labels = {"severity": self.severity, **dict(self.labels)}
        if self.route is not None:
            labels["route"] = self.route
        return labels
