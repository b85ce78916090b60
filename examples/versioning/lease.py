"""A Redis lease: one holder at a time across processes (SET NX PX with a token).

The token makes release and renewal safe: a holder whose lease expired and was taken by
another process cannot delete or extend the new holder's lease, because the Lua scripts
act only when the stored token is still its own.
"""

from __future__ import annotations

import secrets

import redis.asyncio

__all__ = ["RedisLease"]

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisLease:
    """`async with lease.hold() as held:`: `held` is True in exactly one contender."""

    def __init__(self, client: redis.asyncio.Redis, key: str, *, ttl_ms: int = 60_000) -> None:
        self._client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = secrets.token_hex(16)

    async def acquire(self) -> bool:
        return bool(await self._client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        """Extend the lease if it is still ours (call between batches of long work)."""
        return bool(await self._client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    async def release(self) -> bool:
        return bool(await self._client.eval(_RELEASE, 1, self.key, self.token))
