"""Errors of the load command, under Overdrive's one base class.

    OverdriveError
    └── ConfigurationError
        ├── ThresholdError     a threshold expression that does not parse
        └── ScenarioError      a scenario file (Python or YAML) that cannot be used

A `ConfigurationError` maps to exit code 2 (usage). A run that fails (target unreachable,
rate not reached) is not an exception: it is a measurement with a `run_error`, exit code 3.
"""

from __future__ import annotations

from overdrive.errors import ConfigurationError

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_USAGE",
    "ScenarioError",
    "ThresholdError",
]

# The command's exit codes, which CI gates on.
EXIT_OK = 0  # every threshold held, no baseline regression
EXIT_FAILED = 1  # a threshold failed, the baseline regressed, or the run aborted on a breach
EXIT_USAGE = 2  # bad options, threshold, scenario or baseline file
EXIT_RUN_FAILED = 3  # the run itself failed: target unreachable, rate not reached


class ThresholdError(ConfigurationError):
    """A threshold expression that is not k6 syntax Overdrive understands."""


class ScenarioError(ConfigurationError):
    """A scenario (locustfile or YAML form) that cannot be loaded or has no users."""
