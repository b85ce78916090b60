"""Errors of the load command, under Overdrive's one base class.

    OverdriveError
    ├── ConfigurationError
    │   ├── ThresholdError     a threshold expression that does not parse
    │   └── ScenarioError      a scenario file (Python or YAML) that cannot be used
    └── LoadRunError           the run itself failed: target unreachable, rate not reached

A `ConfigurationError` maps to exit code 2 (usage), a `LoadRunError` to exit code 3.
"""

from __future__ import annotations

from overdrive.errors import ConfigurationError, OverdriveError

__all__ = ["LoadRunError", "ScenarioError", "ThresholdError"]


class ThresholdError(ConfigurationError):
    """A threshold expression that is not k6 syntax Overdrive understands."""


class ScenarioError(ConfigurationError):
    """A scenario (locustfile or YAML form) that cannot be loaded or has no users."""


class LoadRunError(OverdriveError):
    """The load run could not produce a valid measurement."""
