"""The HTTP layer: response cache, cache policy, edge headers and purgers, compression,
rate limiting and Server-Timing, as pure ASGI middleware."""

from __future__ import annotations

from overdrive.http.cache_control import CacheControl, parse_cache_control, parse_vary
from overdrive.http.compression import CompressionMiddleware, Compressor
from overdrive.http.integration import Overdrive
from overdrive.http.policy import CachePolicy, cache_policy
from overdrive.http.purge import (
    CloudflarePurger,
    FastlyPurger,
    PurgeError,
    Purger,
    VarnishPurger,
    WebhookPurger,
)
from overdrive.http.rate_limit import ClientAddress, RateLimitMiddleware
from overdrive.http.rate_limiter import MemoryRateLimiter, Rate, RedisRateLimiter
from overdrive.http.response_cache import ResponseCacheMiddleware
from overdrive.http.timing import QueryCounts, QueryInsightHook, ServerTimingMiddleware

__all__ = [
    "CacheControl",
    "CachePolicy",
    "ClientAddress",
    "CloudflarePurger",
    "CompressionMiddleware",
    "Compressor",
    "FastlyPurger",
    "MemoryRateLimiter",
    "Overdrive",
    "PurgeError",
    "Purger",
    "QueryCounts",
    "QueryInsightHook",
    "Rate",
    "RateLimitMiddleware",
    "RedisRateLimiter",
    "ResponseCacheMiddleware",
    "ServerTimingMiddleware",
    "VarnishPurger",
    "WebhookPurger",
    "cache_policy",
    "parse_cache_control",
    "parse_vary",
]
