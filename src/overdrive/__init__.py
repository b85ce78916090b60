"""Overdrive: make an ASGI API fast, keep it fast, and prove it."""

from __future__ import annotations

from overdrive.errors import (
    CacheError,
    CacheKeyError,
    CacheUnavailableError,
    ConfigurationError,
    OverdriveError,
    SerializationError,
)

__all__ = [
    "CacheError",
    "CacheKeyError",
    "CacheUnavailableError",
    "ConfigurationError",
    "OverdriveError",
    "SerializationError",
]
