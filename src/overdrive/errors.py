"""Every error Overdrive raises derives from one base class.

    OverdriveError
    ├── ConfigurationError        bad arguments or settings, raised at construction time
    └── CacheError
        ├── CacheKeyError         a key or tag Overdrive refuses (wrong type, too long, empty)
        ├── SerializationError    a value the serializer cannot encode or a payload it cannot decode
        └── CacheUnavailableError a strict-mode guarantee cannot be given (Redis unreachable)

Third-party errors (redis-py's) are caught at the L2 boundary, counted, and turned into
graceful degradation; only the strict-mode guarantee surfaces one, as CacheUnavailableError.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "CacheKeyError",
    "CacheUnavailableError",
    "ConfigurationError",
    "OverdriveError",
    "SerializationError",
]


class OverdriveError(Exception):
    """Base class of every error Overdrive raises."""


class ConfigurationError(OverdriveError, ValueError):
    """An argument or setting that cannot work, reported when it is given."""


class CacheError(OverdriveError):
    """A cache operation that cannot be carried out as asked."""


class CacheKeyError(CacheError, ValueError):
    """A key or tag that is not a non-empty string within the length limit."""


class SerializationError(CacheError, TypeError):
    """A value the serializer cannot encode, or stored bytes it cannot decode."""


class CacheUnavailableError(CacheError):
    """Strict consistency was asked for but Redis cannot confirm it."""
