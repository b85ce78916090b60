"""Durations as people write them on a command line: `30s`, `2m`, `1h30m`, `200ms`, `1.5s`.

One parser serves stage lengths, run lengths and latency budgets, so `2m` means the
same thing wherever it is typed.
"""

from __future__ import annotations

import re

from overdrive.errors import ConfigurationError

__all__ = ["format_duration", "format_figure", "parse_duration"]

_UNIT_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)")


def parse_duration(text: str, *, bare_unit: str = "s") -> float:
    """Seconds in `text`; a bare number is read in `bare_unit` (k6 reads bare latencies as ms).

    >>> parse_duration("1m30s"), parse_duration("200ms"), parse_duration("250", bare_unit="ms")
    (90.0, 0.2, 0.25)
    """
    cleaned = text.strip().lower()
    if not cleaned:
        raise ConfigurationError("empty duration: write e.g. 30s, 2m, 200ms")
    try:
        return float(cleaned) * _UNIT_SECONDS[bare_unit]
    except ValueError:
        pass
    position = 0
    total = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(cleaned) or position == 0:
        raise ConfigurationError(
            f"{text!r} is not a duration: write e.g. 30s, 2m, 1h30m, 200ms, 1.5s"
        )
    return total


def format_duration(seconds: float) -> str:
    """A short human form: 850ms, 12.5s, 3m05s."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def format_figure(metric: str, value: float) -> str:
    """A threshold metric's value with its unit: 4.51 ms, 0.25%, 120.0/s."""
    if metric == "error_rate":
        return f"{value:.2%}"
    if metric == "rps":
        return f"{value:.1f}/s"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"
