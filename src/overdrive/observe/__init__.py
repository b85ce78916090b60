"""Observability: Prometheus metrics, a live dashboard, alerts, exports and health checks.

    from overdrive.observe import Observability
    app = Observability(app, cache=cache, insight=insight)
"""

from __future__ import annotations

from overdrive.observe.alerts import AlertEvaluator, AlertState, AlertStatus, Transition
from overdrive.observe.app import Observability
from overdrive.observe.health import HealthCheck, Readiness, database_check, redis_check
from overdrive.observe.metrics import OverdriveMetrics
from overdrive.observe.multiprocess import MultiprocessDirectory
from overdrive.observe.notify import AlertNotifier
from overdrive.observe.rules import AlertRule
from overdrive.observe.sketches import LatencyWindows
from overdrive.observe.sources import CacheStatsSource, InsightSource

__all__ = [
    "AlertEvaluator",
    "AlertNotifier",
    "AlertRule",
    "AlertState",
    "AlertStatus",
    "CacheStatsSource",
    "HealthCheck",
    "InsightSource",
    "LatencyWindows",
    "MultiprocessDirectory",
    "Observability",
    "OverdriveMetrics",
    "Readiness",
    "Transition",
    "database_check",
    "redis_check",
]
