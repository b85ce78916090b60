"""A run removes its own keys from the shared Redis, and nothing else."""

from __future__ import annotations

import uuid

import redis

from overdrive.demo.cleanup import delete_keys, namespace_patterns


def test_only_the_runs_own_keys_are_deleted(redis_url: str) -> None:
    prefix = f"cleanup-test-{uuid.uuid4().hex[:8]}-"
    other = f"cleanup-other-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    try:
        mine = [f"{prefix}a", f"{{{prefix}g0}}:b", *(f"{prefix}n{index}" for index in range(1200))]
        client.mset({key: b"1" for key in [*mine, other]})
        delete_keys(redis_url, *namespace_patterns(prefix))
        assert client.exists(*mine) == 0
        assert client.exists(other) == 1
    finally:
        client.delete(other)
        client.close()
