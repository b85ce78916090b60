"""The evaluator lease, the alert board and notification dedup, shared through Redis.

The lease is `SET key token NX PX ttl`, renewed and released by scripts that check the
token, so a worker that paused past its lease cannot renew or release its successor's.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

__all__ = ["RedisBoard", "RedisLease", "RedisSeen"]

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease:
    """Leadership for `ttl` seconds, renewed on each `hold()`; Redis errors mean "not leader"."""

    def __init__(self, client: redis.asyncio.Redis, key: str, ttl: float = 15.0) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.token = secrets.token_hex(16)
        self.held = False

    async def hold(self) -> bool:
        try:
            if self.held:
                renewed = await self.client.eval(RENEW, 1, self.key, self.token, self.ttl_ms)
                self.held = bool(renewed)
            if not self.held:
                self.held = bool(await self.client.set(self.key, self.token, nx=True,
                                                       px=self.ttl_ms))
        except RedisError:
            self.held = False
        return self.held

    async def release(self) -> None:
        if self.held:
            self.held = False
            try:
                await self.client.eval(RELEASE, 1, self.key, self.token)
            except RedisError:
                return


class RedisBoard:
    """Alert states under one key, expiring if the evaluator stops publishing."""

    def __init__(self, client: redis.asyncio.Redis, key: str, ttl: float = 60.0) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl * 1000)

    async def publish(self, alerts: list[dict[str, Any]]) -> None:
        try:
            await self.client.set(self.key, json.dumps(alerts), px=self.ttl_ms)
        except RedisError:
            return

    async def read(self) -> list[dict[str, Any]] | None:
        try:
            raw = await self.client.get(self.key)
        except RedisError:
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        return data if isinstance(data, list) else None


class RedisSeen:
    """Notification fingerprints shared by every worker: `SET NX EX`."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def first(self, fingerprint: str, ttl: float) -> bool:
        try:
            return bool(await self.client.set(f"{self.prefix}{fingerprint}", 1, nx=True,
                                              ex=max(int(ttl), 1)))
        except RedisError:
            return True  # better a duplicate page than a lost one
