"""Durations typed on the command line."""

from __future__ import annotations

import pytest

from overdrive.errors import ConfigurationError
from overdrive.load.units import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("2m", 120),
        ("1h30m", 5400),
        ("1m30s", 90),
        ("200ms", 0.2),
        ("1.5s", 1.5),
        ("250us", 0.00025),
        ("45", 45),
    ],
)
def test_parses_compound_durations(text: str, seconds: float) -> None:
    """Units combine left to right and a bare number is seconds by default."""
    assert parse_duration(text) == pytest.approx(seconds)


def test_bare_unit_is_configurable() -> None:
    """Latency budgets read bare numbers as milliseconds, like k6."""
    assert parse_duration("250", bare_unit="ms") == pytest.approx(0.25)


@pytest.mark.parametrize("text", ["", "s", "10 parsecs", "1m30", "-5s", "5x"])
def test_rejects_what_is_not_a_duration(text: str) -> None:
    """Anything else is a ConfigurationError with an example of the right form."""
    with pytest.raises(ConfigurationError, match="duration"):
        parse_duration(text)


def test_formats_short_forms() -> None:
    """Reports print durations the way they were typed."""
    assert [format_duration(s) for s in (0.25, 12, 12.5, 185)] == ["250ms", "12s", "12.5s", "3m05s"]
