"""The SLO file's alerts as a Prometheus rules file, and `promtool test rules` cases for it.

Each measure of the rule catalogue has one PromQL expression here, computing what the
in-process evaluator computes from the same metrics; the generated unit tests feed a
breaching and a healthy series to every rule, so `promtool test rules` proves each
expression fires when it should and only then.
"""

from __future__ import annotations

from typing import Any

from overdrive.errors import ConfigurationError
from overdrive.observe.metrics import LATENCY_BUCKETS
from overdrive.observe.rules import AlertRule, format_duration

__all__ = ["alert_expression", "rules_document", "rules_tests_document"]

REQUESTS = "overdrive_http_requests_total"
DURATION = "overdrive_http_request_duration_seconds_bucket"


def _selector(rule: AlertRule, extra: str = "") -> str:
    parts = [f'route="{rule.route}"'] if rule.route else []
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def measure_expression(rule: AlertRule) -> str:
    window = format_duration(rule.window)
    if rule.measure.startswith("latency_"):
        quantile = int(rule.measure.removeprefix("latency_p")) / 100
        return (f"histogram_quantile({quantile:g}, sum by (le) "
                f"(rate({DURATION}{_selector(rule)}[{window}])))")
    if rule.measure == "error_rate":
        errors = _selector(rule, 'status=~"5.."')
        return (f"sum(rate({REQUESTS}{errors}[{window}])) / "
                f"sum(rate({REQUESTS}{_selector(rule)}[{window}]))")
    if rule.measure == "request_rate":
        return f"sum(rate({REQUESTS}{_selector(rule)}[{window}]))"
    if rule.measure == "cache_hit_ratio":
        return (f'sum(rate(overdrive_cache_requests_total{{result=~"hit|stale"}}[{window}])) / '
                f'sum(rate(overdrive_cache_requests_total{{tier="l1"}}[{window}]))')
    if rule.measure == "memory_fraction":
        raise ConfigurationError("memory_fraction needs the memory limit: use alert_expression")
    if rule.measure == "event_loop_lag":
        return "max(overdrive_event_loop_lag_seconds)"
    raise ConfigurationError(f"no PromQL for measure {rule.measure}")


def alert_expression(rule: AlertRule, memory_limit: int | None = None) -> str:
    if rule.measure == "memory_fraction":
        if not memory_limit:
            raise ConfigurationError(f"{rule.name}: memory_fraction needs a memory limit")
        expression = f"sum(overdrive_process_resident_memory_bytes) / {memory_limit}"
    else:
        expression = measure_expression(rule)
    return f"{expression} {rule.comparison} {rule.threshold:g}"


def rules_document(rules: list[AlertRule], memory_limit: int | None = None,
                   group: str = "overdrive-slo") -> dict[str, Any]:
    """A `groups:` document ready for `yaml.safe_dump` (or JSON, which YAML accepts)."""
    entries = []
    for rule in rules:
        entry: dict[str, Any] = {
            "alert": rule.name,
            "expr": alert_expression(rule, memory_limit),
            "for": format_duration(rule.for_),
            "labels": rule.all_labels,
            "annotations": rule.annotations,
        }
        if rule.keep_firing_for:
            entry["keep_firing_for"] = format_duration(rule.keep_firing_for)
        entries.append(entry)
    return {"groups": [{"name": group, "rules": entries}]}


def _route_labels(rule: AlertRule) -> str:
    return f'route="{rule.route}"' if rule.route else 'route="/items/{item_id}"'


def _input_series(rule: AlertRule, breaching: bool, memory_limit: int | None,
                  minutes: int) -> list[dict[str, str]]:
    """Series that make the rule's measure land clearly on one side of its threshold."""
    steps = f"x{minutes}"
    labels = _route_labels(rule)
    measure = rule.measure
    above = breaching == (rule.comparison == ">")
    factor = 4.0 if above else 0.25
    if measure.startswith("latency_"):
        latency = rule.threshold * factor
        series = []
        for bound in [*LATENCY_BUCKETS, float("inf")]:
            per_minute = 600 if bound >= latency else 0
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            series.append({"series": f'{DURATION}{{method="GET",{labels},le="{le}"}}',
                           "values": f"0+{per_minute}{steps}"})
        return series
    if measure == "request_rate":
        return [{"series": f'{REQUESTS}{{method="GET",{labels},status="200"}}',
                 "values": f"0+{rule.threshold * 60 * factor:g}{steps}"}]
    if measure in ("error_rate", "cache_hit_ratio"):
        share = min(rule.threshold * factor, 1.0) if above else rule.threshold * factor
        if measure == "cache_hit_ratio" and not above:
            share = rule.threshold / 2
        elif measure == "cache_hit_ratio":
            share = (1 + rule.threshold) / 2
        part = round(1000 * share)
        if measure == "error_rate":
            return [
                {"series": f'{REQUESTS}{{method="GET",{labels},status="200"}}',
                 "values": f"0+{1000 - part}{steps}"},
                {"series": f'{REQUESTS}{{method="GET",{labels},status="500"}}',
                 "values": f"0+{part}{steps}"},
            ]
        return [
            {"series": 'overdrive_cache_requests_total{tier="l1",result="hit"}',
             "values": f"0+{part}{steps}"},
            {"series": 'overdrive_cache_requests_total{tier="l1",result="miss"}',
             "values": f"0+{1000 - part}{steps}"},
        ]
    if measure == "memory_fraction":
        assert memory_limit is not None
        share = min(rule.threshold * 1.2, 1.0) if above else rule.threshold / 2
        return [{"series": 'overdrive_process_resident_memory_bytes{instance="a"}',
                 "values": f"{int(memory_limit * share)}+0{steps}"}]
    return [{"series": 'overdrive_event_loop_lag_seconds{instance="a"}',
             "values": f"{rule.threshold * factor:g}+0{steps}"}]


def rules_tests_document(rules: list[AlertRule], rule_file: str,
                         memory_limit: int | None = None) -> dict[str, Any]:
    """`promtool test rules` input: for each rule, one breaching case and one healthy case."""
    tests = []
    for rule in rules:
        minutes = int((rule.window + rule.for_) // 60) + 5
        eval_time = f"{minutes - 1}m"
        for breaching in (True, False):
            expected = []
            if breaching:
                expected.append({"exp_labels": rule.all_labels,
                                 "exp_annotations": rule.annotations})
            tests.append({
                "name": f"{rule.name} {'fires' if breaching else 'stays quiet'}",
                "interval": "1m",
                "input_series": _input_series(rule, breaching, memory_limit, minutes),
                "alert_rule_test": [{"eval_time": eval_time, "alertname": rule.name,
                                     "exp_alerts": expected}],
            })
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}
