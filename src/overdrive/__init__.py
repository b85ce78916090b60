"""Overdrive: make an ASGI API fast, keep it fast, and prove it."""

from __future__ import annotations

from overdrive.cache import Cache, CacheEntry, MsgpackSerializer, Serializer
from overdrive.errors import (
    CacheError,
    CacheKeyError,
    CacheUnavailableError,
    ConfigurationError,
    OverdriveError,
    SerializationError,
)

__all__ = [
    "Cache",
    "CacheEntry",
    "CacheError",
    "CacheKeyError",
    "CacheUnavailableError",
    "ConfigurationError",
    "MsgpackSerializer",
    "OverdriveError",
    "SerializationError",
    "Serializer",
]
