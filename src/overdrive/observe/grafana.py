"""A Grafana dashboard (provisioning-ready JSON) with the built-in page's panels.

Same panels, same order, same target lines as `/_overdrive`: request rate, error rate,
p50/p95/p99 latency, cache hit ratio by tier, slowest routes, memory and event-loop lag.
The datasource is a template variable, so the file imports into any Grafana unchanged.
"""

from __future__ import annotations

from typing import Any

from overdrive.slo import Objectives

__all__ = ["grafana_dashboard"]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _panel(panel_id: int, title: str, targets: list[tuple[str, str]], unit: str,
            grid: tuple[int, int, int, int], threshold: float | None = None,
            kind: str = "timeseries") -> dict[str, Any]:
    x, y, w, h = grid
    field_config: dict[str, Any] = {"defaults": {"unit": unit}, "overrides": []}
    if threshold is not None:
        field_config["defaults"]["thresholds"] = {"mode": "absolute", "steps": [
            {"color": "green", "value": None}, {"color": "red", "value": threshold}]}
        field_config["defaults"]["custom"] = {"thresholdsStyle": {"mode": "dashed"}}
    return {
        "id": panel_id, "type": kind, "title": title, "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": field_config,
        "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr,
                     "legendFormat": legend} for i, (expr, legend) in enumerate(targets)],
    }


def grafana_dashboard(objectives: Objectives, title: str = "Overdrive",
                      uid: str = "overdrive") -> dict[str, Any]:
    """The dashboard model; write it to a provisioned folder or import it in the UI."""
    rate = "rate(overdrive_http_requests_total[$__rate_interval])"
    buckets = "rate(overdrive_http_request_duration_seconds_bucket[$__rate_interval])"
    cache = "rate(overdrive_cache_requests_total[$__rate_interval])"
    hits = 'rate(overdrive_cache_requests_total{result=~"hit|stale"}[$__rate_interval])'
    errors = 'rate(overdrive_http_requests_total{status=~"5.."}[$__rate_interval])'
    lookups = 'rate(overdrive_cache_requests_total{tier="l1"}[$__rate_interval])'
    panels = [
        _panel(1, "Request rate", [(f"sum({rate})", "req/s")], "reqps", (0, 0, 12, 8)),
        _panel(2, "Error rate", [(f"sum({errors}) / sum({rate})", "5xx share")],
               "percentunit", (12, 0, 12, 8), objectives.error_rate),
        _panel(3, "Latency p50 / p95 / p99",
               [(f"histogram_quantile({q}, sum by (le) ({buckets}))", f"p{int(q * 100)}")
                for q in (0.5, 0.95, 0.99)], "s", (0, 8, 12, 8), objectives.latency_p95),
        _panel(4, "Cache hit ratio", [
            (f"sum({hits}) / sum({lookups})", "overall"),
            (f"sum by (tier) ({hits}) / sum by (tier) ({cache})", "{{tier}}"),
        ], "percentunit", (12, 8, 12, 8), objectives.cache_hit_ratio),
        _panel(5, "Slowest routes (p95)", [
            (f"topk(10, histogram_quantile(0.95, sum by (le, route) ({buckets})))", "{{route}}"),
        ], "s", (0, 16, 12, 8), objectives.latency_p95, kind="bargauge"),
        _panel(6, "Memory (RSS)", [
            ("sum(overdrive_process_resident_memory_bytes)", "RSS"),
        ], "bytes", (12, 16, 6, 8),
            objectives.memory_limit * objectives.memory_fraction if objectives.memory_limit
            else None),
        _panel(7, "Event-loop lag", [("max(overdrive_event_loop_lag_seconds)", "lag")], "s",
               (18, 16, 6, 8), objectives.event_loop_lag),
        _panel(8, "Database statements and N+1", [
            ("sum(rate(overdrive_db_statements_total[$__rate_interval]))", "statements/s"),
            ("sum(rate(overdrive_db_slow_statements_total[$__rate_interval]))", "slow/s"),
            ("sum(increase(overdrive_db_n_plus_one_detections_total[$__rate_interval]))", "N+1"),
        ], "short", (0, 24, 24, 8)),
    ]
    return {
        "uid": uid, "title": title, "tags": ["overdrive"], "timezone": "browser",
        "schemaVersion": 39, "version": 1, "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Prometheus"}]},
        "panels": panels,
    }
