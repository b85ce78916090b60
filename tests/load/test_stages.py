"""Ramping stages and the open-model plan."""

from __future__ import annotations

import pytest

from overdrive.errors import ConfigurationError
from overdrive.load.stages import ArrivalRate, Stage, Stages, parse_stages


def test_parses_k6_style_stages() -> None:
    """`30s:50,2m:200,30s:0` is three linear ramps."""
    stages = parse_stages("30s:50,2m:200,30s:0")
    assert stages.stages == (Stage(30, 50), Stage(120, 200), Stage(30, 0))
    assert stages.total_duration == 180
    assert stages.peak_users == 200


def test_users_ramp_linearly_between_targets() -> None:
    """Users move linearly from the previous target; past the end there is no plan."""
    stages = parse_stages("10s:10,10s:30,10s:0")
    assert [stages.users_at(t) for t in (0, 5, 10, 15, 20, 25)] == [0, 5, 10, 20, 30, 15]
    assert stages.users_at(30) is None


def test_a_zero_length_stage_jumps() -> None:
    """Constant users (--users N) start at once."""
    stages = Stages((Stage(0, 8), Stage(5, 8)))
    assert stages.users_at(0) == 8
    assert stages.users_at(4.9) == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30s", "write <duration>:<users>"),
        ("30s:many", "not a whole number"),
        ("0s:10", "must be positive"),
        ("10s:-1", "at least 0"),
        ("10s:0,5s:0", "never start a user"),
        ("ten:5", "not a duration"),
    ],
)
def test_bad_stages_are_usage_errors(text: str, message: str) -> None:
    """Each malformed stage list raises ConfigurationError saying what to write."""
    with pytest.raises(ConfigurationError, match=message):
        parse_stages(text)


def test_arrival_rate_validates_its_figures() -> None:
    """A rate, a duration and an in-flight bound must all be positive."""
    assert ArrivalRate(100, 10).as_dict()["kind"] == "arrival_rate"
    for rate, duration, in_flight in ((0, 10, 10), (10, 0, 10), (10, 10, 0)):
        with pytest.raises(ConfigurationError):
            ArrivalRate(rate, duration, in_flight)
