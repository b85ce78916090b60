"""The one SLO file: objectives declared once, read by the dashboard, alerts, exports and load.

    # overdrive.toml                      # or [tool.overdrive.slo] in pyproject.toml
    [slo]
    latency_p95 = "500ms"
    error_rate = "1%"
    cache_hit_ratio = "70%"
    memory_limit = "512MB"
    [[slo.routes]]
    route = "/contents/{content_id}"
    p95 = "100ms"
    [[alerts]]                           # rules beyond the objectives, same vocabulary
    name = "VerySlow"
    measure = "latency_p99"
    threshold = "2s"

Every field has a default taken from the project's targets, so no file at all is valid.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from overdrive.errors import ConfigurationError
from overdrive.observe.rules import (
    MEASURES,
    AlertRule,
    Comparison,
    format_duration,
    parse_duration,
)

__all__ = [
    "Objectives",
    "RouteObjective",
    "load_objectives",
    "load_thresholds",
    "parse_ratio",
    "parse_size",
]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20,
               "gib": 2**30, None: 1}


def parse_ratio(value: str | float | int, *, name: str) -> float:
    """A ratio from `0.01`, `1%` or `"0.01"`, checked to lie in [0, 1]."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name}: expected a ratio, got {value!r}")
    try:
        ratio = (
            float(value.strip().rstrip("%")) / 100
            if isinstance(value, str) and value.strip().endswith("%")
            else float(value)
        )
    except ValueError:
        raise ConfigurationError(f"{name}: {value!r} is not a ratio such as 0.01 or 1%") from None
    if not 0 <= ratio <= 1:
        raise ConfigurationError(f"{name}: {value!r} is outside 0..1 (0%..100%)")
    return ratio


def parse_size(value: str | int, *, name: str) -> int:
    """Bytes from `512MB`, `1GiB` or a plain integer."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{name}: expected a size, got {value!r}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(str(value))
        if match is None:
            raise ConfigurationError(f"{name}: {value!r} is not a size such as 512MB")
        unit = match.group(2).lower() if match.group(2) else None
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ConfigurationError(f"{name}: a size must be positive ({value!r})")
    return size


@dataclass(frozen=True)
class RouteObjective:
    """Latency objectives of one route template (`/contents/{content_id}`)."""

    route: str
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class Objectives:
    """The service's objectives; defaults are the project's seed targets."""

    latency_p95: float = 0.5
    latency_p99: float | None = None
    error_rate: float = 0.01
    cache_hit_ratio: float = 0.70
    memory_limit: int | None = None
    memory_fraction: float = 0.80
    event_loop_lag: float = 0.1
    window: float = 60.0
    for_: float = 60.0
    keep_firing_for: float = 60.0
    routes: tuple[RouteObjective, ...] = ()
    extra_rules: tuple[AlertRule, ...] = field(default=())

    def alert_rules(self) -> list[AlertRule]:
        """The alerts these objectives imply, then the extra rules, in a stable order."""
        def rule(name: str, measure: str, comparison: Comparison, threshold: float,
                 severity: str, route: str | None = None, window: float | None = None) -> AlertRule:
            return AlertRule(name, measure, comparison, threshold, route=route,
                             window=window or self.window, for_=self.for_,
                             keep_firing_for=self.keep_firing_for, severity=severity)

        rules = [
            rule("OverdriveLatencyP95High", "latency_p95", ">", self.latency_p95, "critical"),
            rule("OverdriveErrorRateHigh", "error_rate", ">", self.error_rate, "critical"),
            rule("OverdriveCacheHitRatioLow", "cache_hit_ratio", "<", self.cache_hit_ratio,
                 "warning", window=max(self.window, 300.0)),
            rule("OverdriveEventLoopLagHigh", "event_loop_lag", ">", self.event_loop_lag,
                 "warning"),
        ]
        if self.latency_p99 is not None:
            rules.insert(1, rule("OverdriveLatencyP99High", "latency_p99", ">", self.latency_p99,
                                 "critical"))
        if self.memory_limit is not None:
            rules.append(rule("OverdriveMemoryHigh", "memory_fraction", ">", self.memory_fraction,
                              "warning"))
        for index, objective in enumerate(self.routes):
            for measure, target in (("latency_p95", objective.p95), ("latency_p99", objective.p99)):
                if target is not None:
                    suffix = measure.rsplit("_", 1)[1].upper()
                    rules.append(rule(f"OverdriveRoute{index}Latency{suffix}High", measure, ">",
                                      target, "warning", route=objective.route))
        return [*rules, *self.extra_rules]

    def targets(self) -> dict[str, Any]:
        """JSON-ready targets for the dashboard's target lines."""
        return {
            "latency_p95": self.latency_p95,
            "latency_p99": self.latency_p99,
            "error_rate": self.error_rate,
            "cache_hit_ratio": self.cache_hit_ratio,
            "memory_limit": self.memory_limit,
            "memory_fraction": self.memory_fraction,
            "event_loop_lag": self.event_loop_lag,
            "routes": [{"route": r.route, "p95": r.p95, "p99": r.p99} for r in self.routes],
        }


def _duration_ms(seconds: float) -> str:
    return f"{seconds * 1000:g}ms"


def load_thresholds(objectives: Objectives) -> list[str]:
    """k6-style thresholds for the load command: `p95<500ms`, `error_rate<1%`, per route."""
    thresholds = [f"p95<{_duration_ms(objectives.latency_p95)}"]
    if objectives.latency_p99 is not None:
        thresholds.append(f"p99<{_duration_ms(objectives.latency_p99)}")
    thresholds.append(f"error_rate<{objectives.error_rate * 100:g}%")
    for objective in objectives.routes:
        for name, target in (("p95", objective.p95), ("p99", objective.p99)):
            if target is not None:
                thresholds.append(f"route:{objective.route}:{name}<{_duration_ms(target)}")
    return thresholds


_SLO_KEYS = {"latency_p95", "latency_p99", "error_rate", "cache_hit_ratio", "memory_limit",
             "memory_fraction", "event_loop_lag", "window", "for", "keep_firing_for", "routes"}
_RULE_KEYS = {"name", "measure", "threshold", "comparison", "route", "window", "for",
              "keep_firing_for", "severity", "summary", "runbook_url", "labels"}


def _threshold(measure: str, value: Any, name: str) -> float:
    unit = MEASURES[measure][0] if measure in MEASURES else "number"
    if unit == "seconds":
        return parse_duration(value, name=name)
    if unit == "ratio":
        return parse_ratio(value, name=name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ConfigurationError(f"{name}: expected a number, got {value!r}")


def _rule(raw: Mapping[str, Any], defaults: Objectives, where: str) -> AlertRule:
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "measure", "threshold"):
        if key not in raw:
            raise ConfigurationError(f"{where}: `{key}` is required")
    measure = str(raw["measure"])
    default_comparison = "<" if measure == "cache_hit_ratio" else ">"
    return AlertRule(
        name=str(raw["name"]),
        measure=measure,
        comparison=raw.get("comparison", default_comparison),
        threshold=_threshold(measure, raw["threshold"], f"{where}.threshold"),
        window=parse_duration(raw.get("window", defaults.window), name=f"{where}.window"),
        for_=parse_duration(raw.get("for", defaults.for_), name=f"{where}.for"),
        keep_firing_for=parse_duration(raw.get("keep_firing_for", defaults.keep_firing_for),
                                       name=f"{where}.keep_firing_for"),
        severity=str(raw.get("severity", "warning")),
        route=raw.get("route"),
        summary=str(raw.get("summary", "")),
        runbook_url=str(raw.get("runbook_url", "")),
        labels=tuple(sorted((str(k), str(v)) for k, v in dict(raw.get("labels", {})).items())),
    )


def objectives_from_mapping(slo: Mapping[str, Any], alerts: list[Any] | None = None,
                            *, source: str = "slo") -> Objectives:
    """Objectives from the parsed `[slo]` table and `[[alerts]]` array; errors name the key."""
    unknown = set(slo) - _SLO_KEYS
    if unknown:
        raise ConfigurationError(f"{source}: unknown keys {sorted(unknown)}")
    base = Objectives()
    changes: dict[str, Any] = {}
    for key in ("latency_p95", "latency_p99", "event_loop_lag", "window", "keep_firing_for"):
        if key in slo:
            changes[key] = parse_duration(slo[key], name=f"{source}.{key}")
    if "for" in slo:
        changes["for_"] = parse_duration(slo["for"], name=f"{source}.for")
    for key in ("error_rate", "cache_hit_ratio", "memory_fraction"):
        if key in slo:
            changes[key] = parse_ratio(slo[key], name=f"{source}.{key}")
    if "memory_limit" in slo:
        changes["memory_limit"] = parse_size(slo["memory_limit"], name=f"{source}.memory_limit")
    routes = []
    for index, raw in enumerate(slo.get("routes", [])):
        where = f"{source}.routes[{index}]"
        if not isinstance(raw, Mapping) or "route" not in raw:
            raise ConfigurationError(f"{where}: a table with a `route` key is expected")
        if set(raw) - {"route", "p95", "p99"}:
            raise ConfigurationError(f"{where}: only route, p95 and p99 are known")
        routes.append(RouteObjective(
            route=str(raw["route"]),
            p95=parse_duration(raw["p95"], name=f"{where}.p95") if "p95" in raw else None,
            p99=parse_duration(raw["p99"], name=f"{where}.p99") if "p99" in raw else None,
        ))
    changes["routes"] = tuple(routes)
    objectives = replace(base, **changes)
    rules = tuple(_rule(raw, objectives, f"alerts[{index}]")
                  for index, raw in enumerate(alerts or []))
    return replace(objectives, extra_rules=rules)


def _document(candidate: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{candidate}: invalid TOML ({error})") from None
    if candidate.name == "pyproject.toml":
        section: dict[str, Any] = document.get("tool", {}).get("overdrive", {})
        return section
    return document


def find_slo_file(directory: str | Path = ".") -> Path | None:
    """`overdrive.toml`, else a `pyproject.toml` with a `[tool.overdrive]` table, else None."""
    for candidate in (Path(directory) / "overdrive.toml", Path(directory) / "pyproject.toml"):
        if candidate.is_file() and (candidate.name == "overdrive.toml" or _document(candidate)):
            return candidate
    return None


def load_objectives(path: str | Path | None = None, *, directory: str | Path = ".") -> Objectives:
    """Read `overdrive.toml`, else `[tool.overdrive]` of `pyproject.toml`, else the defaults.

    A `path` given explicitly must exist; `directory` is where the two files are looked for.
    """
    candidate = Path(path) if path is not None else find_slo_file(directory)
    if path is not None and not Path(path).is_file():
        raise ConfigurationError(f"SLO file {path} does not exist")
    if candidate is None:
        return Objectives()
    document = _document(candidate)
    return objectives_from_mapping(
        document.get("slo", {}), document.get("alerts", []), source=f"{candidate.name}:slo"
    )


def describe(objectives: Objectives) -> list[str]:
    """One line per rule, for the CLI and logs."""
    return [f"{rule.name}: {rule.measure} {rule.comparison} {rule.describe_threshold()} "
            f"for {format_duration(rule.for_)}" for rule in objectives.alert_rules()]
