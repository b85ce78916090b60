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
from overdrive.http import (
    CloudflarePurger,
    CompressionMiddleware,
    FastlyPurger,
    Overdrive,
    RateLimitMiddleware,
    ResponseCacheMiddleware,
    ServerTimingMiddleware,
    VarnishPurger,
    WebhookPurger,
    cache_policy,
)

__all__ = [
    "Cache",
    "CacheEntry",
    "CacheError",
    "CacheKeyError",
    "CacheUnavailableError",
    "CloudflarePurger",
    "CompressionMiddleware",
    "ConfigurationError",
    "FastlyPurger",
    "MsgpackSerializer",
    "Overdrive",
    "OverdriveError",
    "RateLimitMiddleware",
    "ResponseCacheMiddleware",
    "SerializationError",
    "Serializer",
    "ServerTimingMiddleware",
    "VarnishPurger",
    "WebhookPurger",
    "cache_policy",
]
