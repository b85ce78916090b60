"""The YAML scenario form: validated with errors that say where the mistake is."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from overdrive.load.errors import ScenarioError
from overdrive.load.scenario_yaml import load_yaml_scenario, parse_yaml_scenario

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def test_the_sample_scenario_loads() -> None:
    """Weights, think time, headers, parameters and expected status all arrive."""
    scenario = load_yaml_scenario(SCENARIOS / "reader.yaml")
    items, feedback, status = scenario.endpoints
    assert (items.weight, items.method) == (3, "GET")
    assert scenario.think_time == (0.01, 0.03)
    assert scenario.headers == {"Accept": "application/json"}
    assert status.expect == 201
    rng = random.Random(1)
    urls = {items.url(rng) for _ in range(200)}
    assert all(url.startswith("/items/") and 1 <= int(url.rsplit("/", 1)[1]) <= 50 for url in urls)
    assert {feedback.url(rng) for _ in range(50)} == {
        "/boards/alpha/feedback",
        "/boards/beta/feedback",
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "expected a mapping"),
        ({"endpoints": []}, "non-empty list"),
        (
            {"endpoints": [{"path": "items"}]},
            r"endpoints\[0\]: `path` must be a string starting with /",
        ),
        ({"endpoints": [{"path": "/a", "method": "FETCH"}]}, "method 'FETCH'"),
        ({"endpoints": [{"path": "/a", "weight": 0}]}, "`weight` must be a whole number"),
        ({"endpoints": [{"path": "/a/{id}"}]}, r"path parameter \{id\} has no values"),
        ({"endpoints": [{"path": "/a/{id}", "params": {"id": {"range": [5, 1]}}}]}, r"params\.id"),
        ({"endpoints": [{"path": "/a/{id}", "params": {"id": []}}]}, r"params\.id"),
        ({"endpoints": [{"path": "/a", "expect": 99}]}, "HTTP status code"),
        ({"endpoints": [{"path": "/a", "verb": "GET"}]}, r"unknown key\(s\) \['verb'\]"),
        ({"endpoints": [{"path": "/a"}], "think_time": [2, 1]}, "think_time"),
        ({"endpoints": [{"path": "/a"}], "hosts": "x"}, r"unknown key\(s\) \['hosts'\]"),
    ],
)
def test_mistakes_are_located(document: Any, message: str) -> None:
    """Each mistake raises ScenarioError pointing at the offending entry."""
    with pytest.raises(ScenarioError, match=message):
        parse_yaml_scenario(document)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    """A missing file and broken YAML are ScenarioErrors too."""
    with pytest.raises(ScenarioError, match="cannot read"):
        load_yaml_scenario(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("endpoints: [unclosed")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_yaml_scenario(tmp_path / "broken.yaml")
