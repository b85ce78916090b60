"""Removing a run's own keys from a Redis other runs share."""

from __future__ import annotations

import redis

__all__ = ["delete_keys", "namespace_patterns"]


def namespace_patterns(prefix: str) -> tuple[str, str]:
    """The patterns of a cache namespace's keys: hash-tagged (`{ns...`) and plain."""
    return f"{{{prefix}*", f"{prefix}*"


def delete_keys(redis_url: str, *patterns: str) -> None:
    """Delete the keys matching `patterns`, found by SCAN and deleted in batches.

    Never FLUSHDB: the Redis is shared (other runs, other tests), so only what this run
    named goes.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
    finally:
        client.close()
