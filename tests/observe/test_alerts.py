"""Alert transitions driven by injected values and a fake clock."""

from __future__ import annotations

import pytest

from overdrive.errors import ConfigurationError
from overdrive.observe.alerts import AlertEvaluator, AlertState
from overdrive.observe.rules import AlertRule


def evaluator(rule: AlertRule, values: dict[str, float | None]) -> AlertEvaluator:
    return AlertEvaluator([rule], lambda r: values[r.name], clock=lambda: 0.0)


def test_pending_then_firing_after_for_then_resolved() -> None:
    """A breach is pending until it has lasted `for`, fires once, and resolves once."""
    rule = AlertRule("Slow", "latency_p95", ">", 0.5, for_=60)
    values: dict[str, float | None] = {"Slow": 0.8}
    alerts = evaluator(rule, values)
    assert alerts.evaluate(0) == []
    assert alerts.statuses[0].state is AlertState.PENDING
    assert alerts.evaluate(30) == []
    fired = alerts.evaluate(60)
    assert [(t.status, t.value) for t in fired] == [("firing", 0.8)]
    assert alerts.evaluate(90) == []
    values["Slow"] = 0.1
    resolved = alerts.evaluate(120)
    assert [(t.status, t.episode) for t in resolved] == [("resolved", 60)]
    assert alerts.statuses[0].state is AlertState.INACTIVE


def test_a_short_blip_never_fires() -> None:
    """A breach shorter than `for` goes back to inactive without any notification."""
    values: dict[str, float | None] = {"Errors": 0.05}
    alerts = evaluator(AlertRule("Errors", "error_rate", ">", 0.01, for_=60), values)
    alerts.evaluate(0)
    values["Errors"] = 0.0
    assert alerts.evaluate(30) == []
    assert alerts.statuses[0].state is AlertState.INACTIVE
    values["Errors"] = 0.05
    assert alerts.evaluate(40) == []
    assert alerts.evaluate(99) == []
    assert [t.status for t in alerts.evaluate(100)] == ["firing"]


def test_keep_firing_for_rides_over_flapping() -> None:
    """Once firing, dips below the threshold shorter than keep_firing_for do not resolve."""
    values: dict[str, float | None] = {"Lag": 0.5}
    alerts = evaluator(AlertRule("Lag", "event_loop_lag", ">", 0.1, for_=0,
                                 keep_firing_for=60), values)
    assert [t.status for t in alerts.evaluate(0)] == ["firing"]
    for now, value in ((10, 0.0), (20, 0.5), (30, 0.0), (70, 0.0)):
        values["Lag"] = value
        assert alerts.evaluate(now) == []
        assert alerts.statuses[0].state is AlertState.FIRING
    assert [t.status for t in alerts.evaluate(80)] == ["resolved"]


def test_no_data_is_not_a_breach_and_less_than_rules_work() -> None:
    """None (no traffic) never fires; a `<` rule fires below its threshold."""
    values: dict[str, float | None] = {"Hits": None}
    alerts = evaluator(AlertRule("Hits", "cache_hit_ratio", "<", 0.7, for_=0), values)
    assert alerts.evaluate(0) == []
    values["Hits"] = 0.4
    assert [t.status for t in alerts.evaluate(1)] == ["firing"]
    status = alerts.to_json()[0]
    assert status["state"] == "firing"
    assert status["threshold_text"] == "70%"
    assert status["labels"] == {"severity": "warning"}


def test_rules_refuse_bad_definitions() -> None:
    """Unknown measures, bad names, negative durations and per-route gauges are refused."""
    with pytest.raises(ConfigurationError, match="unknown measure"):
        AlertRule("X", "cpu", ">", 1)
    with pytest.raises(ConfigurationError, match="letters"):
        AlertRule("bad name", "error_rate", ">", 1)
    with pytest.raises(ConfigurationError, match=">= 0"):
        AlertRule("X", "error_rate", ">", 1, for_=-1)
    with pytest.raises(ConfigurationError, match="per-route"):
        AlertRule("X", "event_loop_lag", ">", 1, route="/a")
    rule = AlertRule("X", "error_rate", ">", 0.01)
    with pytest.raises(ConfigurationError, match="share a name"):
        AlertEvaluator([rule, rule], lambda r: None)
