"""The demo's own error: a run that cannot go on, said in one sentence."""

from __future__ import annotations

from overdrive.errors import OverdriveError

__all__ = ["DemoError"]


class DemoError(OverdriveError):
    """The demo could not seed, start the application, or drive it."""
