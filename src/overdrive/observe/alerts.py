"""In-process alert evaluation: inactive → pending → firing → resolved, as Prometheus does.

A rule whose condition holds becomes *pending*; once it has held for `for_` seconds it
*fires* and notifies. When the condition clears it stays firing for `keep_firing_for`
more seconds (a value hovering around the threshold does not page on every crossing),
then *resolves* and notifies again. No data (no requests yet, no cache) is not a breach.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from overdrive.errors import ConfigurationError
from overdrive.observe.rules import AlertRule

__all__ = ["AlertEvaluator", "AlertState", "AlertStatus", "Transition"]


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass
class AlertStatus:
    """Where one rule stands now."""

    rule: AlertRule
    state: AlertState = AlertState.INACTIVE
    active_since: float | None = None
    firing_since: float | None = None
    last_breach: float | None = None
    value: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.rule.name,
            "state": self.state.value,
            "severity": self.rule.severity,
            "measure": self.rule.measure,
            "route": self.rule.route,
            "comparison": self.rule.comparison,
            "threshold": self.rule.threshold,
            "threshold_text": self.rule.describe_threshold(),
            "value": self.value,
            "active_since": self.active_since,
            "firing_since": self.firing_since,
            "labels": self.rule.all_labels,
            "annotations": self.rule.annotations,
        }


@dataclass(frozen=True)
class Transition:
    """A change worth telling someone about: a rule started firing or resolved."""

    status: str  # "firing" | "resolved"
    rule: AlertRule
    value: float | None
    at: float
    episode: float = 0.0  # when this firing began: one notification per status per episode


class AlertEvaluator:
    """Evaluates `rules` against `measure(rule)` each time `evaluate()` is called.

        evaluator = AlertEvaluator(objectives.alert_rules(), measurements.value)
        for transition in evaluator.evaluate():
            await notifier.notify(transition)
    """

    def __init__(self, rules: Sequence[AlertRule],
                 measure: Callable[[AlertRule], float | None],
                 clock: Callable[[], float] = time.time) -> None:
        names = [rule.name + repr(rule.route) for rule in rules]
        if len(set(names)) != len(names):
            raise ConfigurationError("two alert rules share a name and route")
        self.statuses = [AlertStatus(rule) for rule in rules]
        self.measure = measure
        self.clock = clock

    def evaluate(self, now: float | None = None) -> list[Transition]:
        now = self.clock() if now is None else now
        transitions = []
        for status in self.statuses:
            value = self.measure(status.rule)
            status.value = value
            breached = value is not None and status.rule.breached(value)
            transition = self._step(status, breached, now)
            if transition is not None:
                transitions.append(transition)
        return transitions

    def _step(self, status: AlertStatus, breached: bool, now: float) -> Transition | None:
        rule = status.rule
        if breached:
            status.last_breach = now
            if status.state is AlertState.INACTIVE:
                status.state, status.active_since = AlertState.PENDING, now
            pending_for = now - (now if status.active_since is None else status.active_since)
            if status.state is AlertState.PENDING and pending_for >= rule.for_:
                status.state, status.firing_since = AlertState.FIRING, now
                return Transition("firing", rule, status.value, now, now)
            return None
        if status.state is AlertState.PENDING:
            status.state, status.active_since = AlertState.INACTIVE, None
        elif status.state is AlertState.FIRING and (
            now - (now if status.last_breach is None else status.last_breach)
            >= rule.keep_firing_for
        ):
            episode = now if status.firing_since is None else status.firing_since
            status.state = AlertState.INACTIVE
            status.active_since = status.firing_since = None
            return Transition("resolved", rule, status.value, now, episode)
        return None

    def active(self) -> list[AlertStatus]:
        return [status for status in self.statuses if status.state is not AlertState.INACTIVE]

    def to_json(self) -> list[dict[str, Any]]:
        return [status.to_json() for status in self.statuses]
