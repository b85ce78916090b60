"""Load a scenario as Locust user classes: a locustfile unchanged, or the YAML form.

Imported only inside the load engine process, after gevent has patched the standard
library (importing Locust patches it).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task
from locust.user.users import User
from locust.util.load_locustfile import load_locustfile

from overdrive.load.errors import ScenarioError
from overdrive.load.scenario_yaml import Endpoint, YamlScenario, load_yaml_scenario

__all__ = ["load_user_classes", "user_classes_from_yaml"]


def load_user_classes(path: Path, names: list[str] | None = None) -> list[type[User]]:
    """The runnable user classes of a `.py` locustfile or `.yaml` scenario, optionally by name."""
    if not path.is_file():
        raise ScenarioError(f"no scenario file at {path}")
    if path.suffix in (".yaml", ".yml"):
        return [user_classes_from_yaml(load_yaml_scenario(path))]
    if path.suffix != ".py":
        raise ScenarioError(f"scenario {path}: expected a locustfile (.py) or a YAML form (.yaml)")
    try:
        found, _shapes = load_locustfile(str(path.resolve()))
    except Exception as error:
        raise ScenarioError(f"scenario {path} failed to import: {error!r}") from error
    if names:
        missing = [name for name in names if name not in found]
        if missing:
            raise ScenarioError(
                f"scenario {path} has no user class {missing}; found {sorted(found)}"
            )
        found = {name: found[name] for name in names}
    if not found:
        raise ScenarioError(f"scenario {path} defines no runnable Locust user class")
    return list(found.values())


def user_classes_from_yaml(scenario: YamlScenario) -> type[User]:
    """A FastHttpUser subclass with one weighted task per endpoint."""
    tasks = {
        _endpoint_task(endpoint, scenario.headers): endpoint.weight
        for endpoint in scenario.endpoints
    }
    namespace: dict[str, Any] = {
        "tasks": tasks,
        "wait_time": between(*scenario.think_time),
        "host": scenario.host,
        "abstract": False,
    }
    return type("YamlScenarioUser", (FastHttpUser,), namespace)


def _endpoint_task(endpoint: Endpoint, common_headers: dict[str, str]) -> Any:
    headers = {**common_headers, **endpoint.headers} or None
    name = endpoint.name or endpoint.path
    rng = random.Random()

    def request(user: FastHttpUser) -> None:
        url = endpoint.url(rng)
        if endpoint.expect is None:
            user.client.request(
                endpoint.method, url, name=name, headers=headers, json=endpoint.json
            )
            return
        with user.client.request(
            endpoint.method,
            url,
            name=name,
            headers=headers,
            json=endpoint.json,
            catch_response=True,
        ) as response:
            if response.status_code != endpoint.expect:
                response.failure(f"expected status {endpoint.expect}, got {response.status_code}")
            else:
                response.success()

    request.__name__ = f"{endpoint.method} {name}"
    return task(request)
