"""k6-style threshold expressions: parsing, clear errors, evaluation."""

from __future__ import annotations

import pytest

from overdrive.errors import ConfigurationError
from overdrive.load.errors import ThresholdError
from overdrive.load.thresholds import evaluate_thresholds, parse_threshold


@pytest.mark.parametrize(
    ("expression", "metric", "comparison", "limit", "route"),
    [
        ("p95<200ms", "p95", "<", 200.0, None),
        ("p50 < 1.5s", "p50", "<", 1500.0, None),
        ("p(99)<=300", "p99", "<=", 300.0, None),
        ("p99.9<1s", "p99.9", "<", 1000.0, None),
        ("p90<500us", "p90", "<", 0.5, None),
        ("avg<250", "avg", "<", 250.0, None),
        ("med<100ms", "p50", "<", 100.0, None),
        ("max<2s", "max", "<", 2000.0, None),
        ("min>=0", "min", ">=", 0.0, None),
        ("error_rate<1%", "error_rate", "<", 0.01, None),
        ("error_rate<=0.05", "error_rate", "<=", 0.05, None),
        ("rps>100", "rps", ">", 100.0, None),
        ("route:/boards/{board}/feedback:p95<100ms", "p95", "<", 100.0, "/boards/{board}/feedback"),
        ("route:/a:b:error_rate<2%", "error_rate", "<", 0.02, "/a:b"),
    ],
)
def test_parses_the_k6_forms(
    expression: str, metric: str, comparison: str, limit: float, route: str | None
) -> None:
    """Every documented form parses to its metric, comparison, limit (ms or fraction) and route."""
    threshold = parse_threshold(expression)
    assert (threshold.metric, threshold.comparison, route) == (metric, comparison, threshold.route)
    assert threshold.limit == pytest.approx(limit)


@pytest.mark.parametrize(
    ("expression", "hint"),
    [
        ("", "expected <metric><op><value>"),
        ("p95", "expected <metric><op><value>"),
        ("p95=200ms", "expected <metric><op><value>"),
        ("p95<", "expected <metric><op><value>"),
        ("p95<fast", "is not a latency"),
        ("p95<200 parsecs", "is not a latency"),
        ("p101<1s", "a percentile lies in (0, 100]"),
        ("latency<1s", "unknown metric 'latency'"),
        ("error_rate<lots", "is not a rate"),
        ("rps>many", "is not a number of requests per second"),
        ("route:p95<1s", "route:<name>:<metric><op><value>"),
        ("route::p95<1s", "route:<name>:<metric><op><value>"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, hint: str) -> None:
    """A malformed threshold raises ThresholdError (a ConfigurationError) naming it and the fix."""
    with pytest.raises(ThresholdError) as caught:
        parse_threshold(expression)
    assert isinstance(caught.value, ConfigurationError)
    assert repr(expression) in str(caught.value)
    assert hint in str(caught.value)


def test_evaluation_against_overall_and_route_figures() -> None:
    """Each threshold reads its own scope; comparisons are strict or inclusive as written."""
    thresholds = [
        parse_threshold(text)
        for text in ("p95<200ms", "p95<100", "error_rate<=1%", "rps>50", "route:/a:p99<10ms")
    ]
    overall = {"p95": 100.0, "error_rate": 0.01, "rps": 40.0}
    routes = {"/a": {"p99": 9.5}}
    results = evaluate_thresholds(thresholds, overall, routes)
    assert [result.passed for result in results] == [True, False, True, False, True]
    assert results[0].observed == 100.0
    assert results[4].observed == 9.5


def test_a_route_without_traffic_fails_its_threshold() -> None:
    """A budget on a route the run never reached proves nothing, so it does not pass."""
    [result] = evaluate_thresholds([parse_threshold("route:/never:p95<1s")], {"p95": 1.0}, {})
    assert result.observed is None
    assert not result.passed
    assert result.as_dict()["expression"] == "route:/never:p95<1s"
