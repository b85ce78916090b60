"""The short YAML scenario: endpoints, weights, think time, path parameters — no Python.

    host: http://127.0.0.1:8000          # optional; --host wins
    think_time: [0.05, 0.2]              # seconds between a user's requests: a number or [min, max]
    headers: {Accept: application/json} # sent with every request
    endpoints:
      - path: /boards/{board}/feedback
        weight: 3                        # relative frequency, default 1
        params:
          board: {range: [1, 500]}       # or a list: [alpha, beta]
      - path: /boards
        method: POST
        json: {title: load test}
        expect: 201                      # a different status is a failure

Each endpoint becomes a Locust task whose request name is the path template, so
`route:/boards/{board}/feedback:p95<100ms` budgets every board at once.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from overdrive.load.errors import ScenarioError

__all__ = ["Endpoint", "YamlScenario", "load_yaml_scenario"]

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENDPOINT_KEYS = {"path", "method", "weight", "params", "json", "headers", "expect", "name"}
_TOP_KEYS = {"host", "think_time", "headers", "endpoints"}


@dataclass(frozen=True, slots=True)
class ParameterValues:
    """Where one path parameter draws its values: a list, or an inclusive integer range."""

    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 0

    def draw(self, rng: random.Random) -> str:
        if self.choices:
            return rng.choice(self.choices)
        return str(rng.randint(self.low, self.high))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One weighted request of the scenario."""

    path: str
    method: str = "GET"
    weight: int = 1
    params: dict[str, ParameterValues] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: int | None = None
    name: str | None = None

    def url(self, rng: random.Random) -> str:
        return _PLACEHOLDER.sub(lambda match: self.params[match.group(1)].draw(rng), self.path)


@dataclass(frozen=True, slots=True)
class YamlScenario:
    endpoints: tuple[Endpoint, ...]
    think_time: tuple[float, float] = (0.0, 0.0)
    headers: dict[str, str] = field(default_factory=dict)
    host: str | None = None


def load_yaml_scenario(path: Path) -> YamlScenario:
    """Read and validate a YAML scenario; every mistake names where it is."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ScenarioError(f"cannot read scenario {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ScenarioError(f"scenario {path} is not valid YAML: {error}") from None
    return parse_yaml_scenario(document, str(path))


def parse_yaml_scenario(document: Any, source: str = "scenario") -> YamlScenario:
    if not isinstance(document, dict):
        raise ScenarioError(f"{source}: expected a mapping with an `endpoints` list")
    _reject_unknown(document, _TOP_KEYS, source)
    raw_endpoints = document.get("endpoints")
    if not isinstance(raw_endpoints, list) or not raw_endpoints:
        raise ScenarioError(f"{source}: `endpoints` must be a non-empty list")
    endpoints = tuple(
        _endpoint(raw, f"{source}: endpoints[{index}]") for index, raw in enumerate(raw_endpoints)
    )
    host = document.get("host")
    if host is not None and not isinstance(host, str):
        raise ScenarioError(f"{source}: `host` must be a URL string")
    return YamlScenario(
        endpoints=endpoints,
        think_time=_think_time(document.get("think_time", 0), source),
        headers=_headers(document.get("headers", {}), f"{source}: headers"),
        host=host,
    )


def _endpoint(raw: Any, where: str) -> Endpoint:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping with at least `path`")
    _reject_unknown(raw, _ENDPOINT_KEYS, where)
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ScenarioError(f"{where}: `path` must be a string starting with /")
    method = str(raw.get("method", "GET")).upper()
    if method not in _METHODS:
        raise ScenarioError(f"{where}: method {method!r} is not one of {sorted(_METHODS)}")
    weight = raw.get("weight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
        raise ScenarioError(f"{where}: `weight` must be a whole number of at least 1")
    raw_params = raw.get("params", {})
    if not isinstance(raw_params, dict):
        raise ScenarioError(f"{where}: `params` must map each {{name}} in the path to values")
    params = {
        str(name): _values(value, f"{where}.params.{name}") for name, value in raw_params.items()
    }
    for placeholder in _PLACEHOLDER.findall(path):
        if placeholder not in params:
            raise ScenarioError(
                f"{where}: path parameter {{{placeholder}}} has no values in `params`"
            )
    expect = raw.get("expect")
    if expect is not None and (not isinstance(expect, int) or not 100 <= expect <= 599):
        raise ScenarioError(f"{where}: `expect` must be an HTTP status code")
    name = raw.get("name")
    return Endpoint(
        path=path,
        method=method,
        weight=weight,
        params=params,
        json=raw.get("json"),
        headers=_headers(raw.get("headers", {}), f"{where}.headers"),
        expect=expect,
        name=str(name) if name is not None else None,
    )


def _values(raw: Any, where: str) -> ParameterValues:
    if isinstance(raw, list) and raw:
        return ParameterValues(choices=tuple(str(item) for item in raw))
    if isinstance(raw, dict) and set(raw) == {"range"}:
        bounds = raw["range"]
        if (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(isinstance(bound, int) for bound in bounds)
            and bounds[0] <= bounds[1]
        ):
            return ParameterValues(low=bounds[0], high=bounds[1])
    raise ScenarioError(f"{where}: give a non-empty list or {{range: [low, high]}} of integers")


def _think_time(raw: Any, source: str) -> tuple[float, float]:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
        return (float(raw), float(raw))
    if (
        isinstance(raw, list)
        and len(raw) == 2
        and all(isinstance(bound, int | float) for bound in raw)
        and 0 <= raw[0] <= raw[1]
    ):
        return (float(raw[0]), float(raw[1]))
    raise ScenarioError(f"{source}: `think_time` must be seconds, or [min, max] seconds")


def _headers(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a mapping of header names to values")
    return {str(name): str(value) for name, value in raw.items()}


def _reject_unknown(raw: dict[str, Any], known: set[str], where: str) -> None:
    unknown = set(raw) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
