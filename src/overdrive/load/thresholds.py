"""Thresholds in the k6 syntax users already write: `p95<200ms`, `error_rate<1%`, `rps>100`.

A threshold is one comparison of one metric against a limit, optionally scoped to one
route: `route:/boards/{board}/feedback:p95<100ms`. The route is the request name Locust
reports (the `name=` of a request, its path otherwise), so grouped URLs are budgeted once.

Metrics:
    p50 p90 p95 p99 (any pN or k6's p(N)), med, avg, min, max   latency; bare numbers are ms
    error_rate                                                  a percentage or a fraction
    rps                                                         requests per second

A threshold holds or breaks against a summary's figures; a route the run never reached
breaks its threshold, since a budget on traffic that never came proves nothing.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from overdrive.errors import ConfigurationError
from overdrive.load.errors import ThresholdError
from overdrive.load.units import parse_duration

__all__ = ["Threshold", "ThresholdResult", "evaluate_thresholds", "parse_threshold"]

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_EXPRESSION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.()]*)\s*(<=|>=|<|>)\s*(\S.*?)\s*$")
_PERCENTILE = re.compile(r"^p(?:\((\d+(?:\.\d+)?)\)|(\d+(?:\.\d+)?))$")
_LATENCY_ALIASES = {"med": "p50", "avg": "avg", "min": "min", "max": "max"}
_KNOWN = "p50, p90, p95, p99 (or any pN / p(N)), med, avg, min, max, error_rate, rps"

# The figures a threshold reads: metric name -> value, latencies in milliseconds,
# error_rate as a fraction.
Figures = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed threshold; `limit` is in ms for latencies and a fraction for error_rate."""

    expression: str
    metric: str
    comparison: str
    limit: float
    route: str | None = None

    def holds(self, observed: float) -> bool:
        return _OPERATORS[self.comparison](observed, self.limit)

    @property
    def percentile(self) -> float | None:
        """The percentile a `pN` metric asks for, None for the other metrics."""
        return float(self.metric[1:]) if self.metric.startswith("p") else None


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """A threshold with the figure the run produced; `observed` is None when it had no data."""

    threshold: Threshold
    observed: float | None
    passed: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "expression": self.threshold.expression,
            "route": self.threshold.route,
            "metric": self.threshold.metric,
            "limit": self.threshold.limit,
            "observed": self.observed,
            "passed": self.passed,
        }


def parse_threshold(expression: str) -> Threshold:
    """Parse one k6-style expression, with an error that says what is wrong and how to write it.

    >>> threshold = parse_threshold("route:/items/{id}:p95<100ms")
    >>> threshold.route, threshold.metric, threshold.comparison, threshold.limit
    ('/items/{id}', 'p95', '<', 100.0)
    """
    text = expression.strip()
    route: str | None = None
    if text.startswith("route:"):
        route, separator, text = text[len("route:") :].rpartition(":")
        if not separator or not route:
            raise ThresholdError(
                f"threshold {expression!r}: a route threshold reads"
                " route:<name>:<metric><op><value>, e.g. route:/items/{id}:p95<100ms"
            )
    match = _EXPRESSION.match(text)
    if match is None:
        raise ThresholdError(
            f"threshold {expression!r}: expected <metric><op><value> with op one of"
            " <, <=, >, >=, e.g. p95<200ms, error_rate<1%, rps>100"
        )
    raw_metric, comparison, raw_value = match.groups()
    metric = _metric_name(raw_metric.lower(), expression)
    limit = _limit(metric, raw_value, expression)
    return Threshold(expression.strip(), metric, comparison, limit, route)


def evaluate_thresholds(
    thresholds: list[Threshold], overall: Figures, routes: Mapping[str, Figures]
) -> list[ThresholdResult]:
    """Check each threshold against the run's overall figures or its route's figures."""
    results = []
    for threshold in thresholds:
        figures = overall if threshold.route is None else routes.get(threshold.route)
        observed = None if figures is None else figures.get(threshold.metric)
        passed = observed is not None and threshold.holds(observed)
        results.append(ThresholdResult(threshold, observed, passed))
    return results


def _metric_name(raw: str, expression: str) -> str:
    if raw in ("error_rate", "rps"):
        return raw
    if raw in _LATENCY_ALIASES:
        return _LATENCY_ALIASES[raw]
    percentile = _PERCENTILE.match(raw)
    if percentile is not None:
        value = float(percentile.group(1) or percentile.group(2))
        if not 0 < value <= 100:
            raise ThresholdError(f"threshold {expression!r}: a percentile lies in (0, 100]")
        return f"p{value:g}"
    raise ThresholdError(f"threshold {expression!r}: unknown metric {raw!r}; known: {_KNOWN}")


def _limit(metric: str, raw: str, expression: str) -> float:
    if metric == "error_rate":
        try:
            if raw.endswith("%"):
                return float(raw[:-1]) / 100
            return float(raw)
        except ValueError:
            raise ThresholdError(
                f"threshold {expression!r}: {raw!r} is not a rate; write 1% or 0.01"
            ) from None
    if metric == "rps":
        try:
            return float(raw)
        except ValueError:
            raise ThresholdError(
                f"threshold {expression!r}: {raw!r} is not a number of requests per second"
            ) from None
    try:
        return parse_duration(raw, bare_unit="ms") * 1000
    except ConfigurationError:
        raise ThresholdError(
            f"threshold {expression!r}: {raw!r} is not a latency; write 200ms, 1.5s or 200"
            " (bare numbers are milliseconds)"
        ) from None
