"""Ramping stages and the open-model plan."""

from __future__ import annotations

import pytest

from overdrive.errors import ConfigurationError
from overdrive.load.stages import ArrivalRate, Stage, Stages, parse_rate_stages, parse_stages


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
    assert ArrivalRate.constant(100, 10).as_dict()["kind"] == "arrival_rate"
    for rate, duration, in_flight in ((0, 10, 10), (10, 0, 10), (10, 10, 0)):
        with pytest.raises(ConfigurationError):
            ArrivalRate.constant(rate, duration, in_flight)


def test_constant_rate_timetable() -> None:
    """A constant rate r is due at 0, 1/r, 2/r ... and holds r × duration arrivals."""
    plan = ArrivalRate.constant(4, 2)
    assert list(plan.due_times()) == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75])
    assert plan.expected_arrivals == 8
    assert plan.is_constant


def test_ramping_rate_timetable_follows_the_area_under_the_rate() -> None:
    """0→100/s over 1 s then 100/s for 2 s: 50 arrivals in the ramp, 200 after, ordered in time."""
    plan = parse_rate_stages("1s:100,2s:100")
    due = list(plan.due_times())
    assert plan.expected_arrivals == len(due) == 250
    assert due == sorted(due)
    assert sum(1 for t in due if t < 1) == 50
    assert sum(1 for t in due if t < 0.5) == pytest.approx(13, abs=1)  # quadratic: a quarter
    assert due[-1] < 3
    assert plan.mean_rate == pytest.approx(250 / 3)


def test_ramp_down_and_start_rate() -> None:
    """`20,2s:0` starts at 20/s and ramps down to nothing: 20 arrivals, denser at first."""
    plan = parse_rate_stages("20,2s:0")
    due = list(plan.due_times())
    assert len(due) == 20
    assert sum(1 for t in due if t < 1) == 15
    assert not plan.is_constant


def test_scaled_plan_for_workers() -> None:
    """A worker's share runs the same timetable at a fraction of the rate."""
    share = parse_rate_stages("10,2s:30").scaled(0.5, max_in_flight=10)
    assert share.start_rate == 5
    assert share.stages[0].target == 15
    assert ArrivalRate.from_dict(share.as_dict()) == share


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast,1s:10", "write a rate"),
        ("5,1s", "write <duration>:<rate>"),
        ("1s:lots", "is not a rate"),
        ("1s:-5", "must not be negative"),
        ("0,1s:0", "must be positive"),
    ],
)
def test_bad_rate_stages(text: str, message: str) -> None:
    """Malformed ramps are usage errors that show the right form."""
    with pytest.raises(ConfigurationError, match=message):
        parse_rate_stages(text)
