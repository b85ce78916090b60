"""Baselines: keep one run's summary, compare later runs with it, fail on regressions.

A regression is a move past a tolerance in the bad direction: p95 latency up by more
than 20 % (overall and per route), throughput down by more than 15 %, error rate up by
more than one percentage point. Sub-millisecond latency moves are never regressions —
at those figures +20 % is scheduler noise, not a slower API. p50 and p99 are shown for
context but do not gate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overdrive.errors import ConfigurationError

__all__ = [
    "BASELINE_VERSION",
    "Movement",
    "Tolerances",
    "compare",
    "load_baseline",
    "save_baseline",
]

BASELINE_VERSION = 1
LATENCY_NOISE_MS = 1.0


@dataclass(frozen=True, slots=True)
class Tolerances:
    """How far a figure may move in the bad direction before the run fails (fractions)."""

    p95_increase: float = 0.20
    rps_decrease: float = 0.15
    error_rate_increase: float = 0.01  # absolute: one percentage point


@dataclass(frozen=True, slots=True)
class Movement:
    """One row of the comparison table."""

    scope: str
    metric: str
    baseline: float
    current: float
    limit: str | None
    regressed: bool

    @property
    def change(self) -> float | None:
        """Relative change, None when the baseline figure was zero."""
        return (self.current - self.baseline) / self.baseline if self.baseline else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "metric": self.metric,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "limit": self.limit,
            "regressed": self.regressed,
        }


def save_baseline(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = {"baseline_version": BASELINE_VERSION, **document}
    path.write_text(json.dumps(stored, indent=2, sort_keys=True), encoding="utf-8")


def load_baseline(path: Path) -> dict[str, Any]:
    """A saved summary, with a clear error when the file is missing or not one of ours."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"no baseline at {path}: create one with --save-baseline"
        ) from None
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"baseline {path} is not readable JSON: {error}") from None
    if not isinstance(document, dict) or "total" not in document or "routes" not in document:
        raise ConfigurationError(f"{path} is not an overdrive load baseline (no totals)")
    return document


def compare(
    baseline: dict[str, Any], current: dict[str, Any], tolerances: Tolerances
) -> list[Movement]:
    """Every compared figure, overall first, then each route both runs measured."""
    rows: list[Movement] = []
    old, new = baseline["total"], current["total"]
    for metric in ("p50", "p95", "p99"):
        rows.append(_latency("overall", metric, old, new, tolerances if metric == "p95" else None))
    rows.append(_throughput(old, new, tolerances))
    rows.append(_errors("overall", old, new, tolerances))
    for route in sorted(set(baseline["routes"]) & set(current["routes"])):
        before, after = baseline["routes"][route], current["routes"][route]
        rows.append(_latency(route, "p95", before, after, tolerances))
        rows.append(_errors(route, before, after, tolerances))
    return rows


def _latency(
    scope: str,
    metric: str,
    old: dict[str, float],
    new: dict[str, float],
    tolerances: Tolerances | None,
) -> Movement:
    before, after = float(old.get(metric, 0.0)), float(new.get(metric, 0.0))
    if tolerances is None:
        return Movement(scope, metric, before, after, None, False)
    allowed = before * (1 + tolerances.p95_increase)
    regressed = after > allowed and after - before > LATENCY_NOISE_MS
    return Movement(scope, metric, before, after, f"+{tolerances.p95_increase:.0%}", regressed)


def _throughput(old: dict[str, float], new: dict[str, float], tolerances: Tolerances) -> Movement:
    before, after = float(old["rps"]), float(new["rps"])
    regressed = after < before * (1 - tolerances.rps_decrease)
    return Movement("overall", "rps", before, after, f"-{tolerances.rps_decrease:.0%}", regressed)


def _errors(
    scope: str, old: dict[str, float], new: dict[str, float], tolerances: Tolerances
) -> Movement:
    before, after = float(old["error_rate"]), float(new["error_rate"])
    regressed = after - before > tolerances.error_rate_increase
    limit = f"+{tolerances.error_rate_increase * 100:g}pt"
    return Movement(scope, "error_rate", before, after, limit, regressed)


def plan_mismatch(baseline: dict[str, Any], current: dict[str, Any]) -> str | None:
    """A warning when the two runs did not apply the same load: their figures do not compare."""
    before, after = baseline.get("plan"), current.get("plan")
    if before is None or before == after:
        return None
    return (
        "the baseline ran a different load plan; throughput and latency moves may reflect"
        " the plan, not the code"
    )
