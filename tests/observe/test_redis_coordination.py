"""One evaluator per deployment through a Redis lease; the board and dedup shared through Redis."""

from __future__ import annotations

import redis.asyncio

from overdrive.observe.coordination import FileBoard, FileLease
from overdrive.observe.redis_coordination import RedisBoard, RedisLease, RedisSeen
from tests.servers import redis_server


async def test_only_one_worker_holds_the_lease(redis_client: redis.asyncio.Redis,
                                                namespace: str) -> None:
    """Two contenders: one holds and renews, the other waits until it is released."""
    first = RedisLease(redis_client, f"{namespace}:lease", ttl=5)
    second = RedisLease(redis_client, f"{namespace}:lease", ttl=5)
    assert await first.hold()
    assert not await second.hold()
    assert await first.hold()  # renewal
    await first.release()
    assert await second.hold()
    assert not await first.hold()
    await second.release()


async def test_a_lost_lease_is_not_renewed_or_released_by_its_old_holder(
    redis_client: redis.asyncio.Redis, namespace: str,
) -> None:
    """After expiry and takeover, the old holder neither renews nor deletes the new lease."""
    key = f"{namespace}:lease"
    old = RedisLease(redis_client, key, ttl=5)
    assert await old.hold()
    await redis_client.delete(key)  # expiry, as after a long pause
    new = RedisLease(redis_client, key, ttl=5)
    assert await new.hold()
    assert not await old.hold()
    await old.release()
    assert await redis_client.get(key) == new.token.encode()
    await new.release()


async def test_redis_down_means_not_leader_and_no_crash() -> None:
    """When Redis dies the holder stops evaluating instead of raising."""
    with redis_server() as server:
        client = redis.asyncio.Redis.from_url(server.url, socket_timeout=0.5,
                                              socket_connect_timeout=0.5)
        lease = RedisLease(client, "lease", ttl=5)
        assert await lease.hold()
        server.stop()
        assert not await lease.hold()
        board = RedisBoard(client, "alerts")
        await board.publish([{"name": "x"}])
        assert await board.read() is None
        assert await RedisSeen(client, "seen:").first("fp", 60)
        await client.aclose()


async def test_board_and_dedup_are_shared(redis_client: redis.asyncio.Redis,
                                          namespace: str) -> None:
    """What the evaluator publishes every worker reads; a fingerprint is first only once."""
    board = RedisBoard(redis_client, f"{namespace}:alerts")
    assert await board.read() is None
    await board.publish([{"name": "Slow", "state": "firing"}])
    assert await RedisBoard(redis_client, f"{namespace}:alerts").read() == [
        {"name": "Slow", "state": "firing"}]
    seen = RedisSeen(redis_client, f"{namespace}:seen:")
    assert await seen.first("Slow|firing|1", 60)
    assert not await RedisSeen(redis_client, f"{namespace}:seen:").first("Slow|firing|1", 60)


async def test_file_lease_elects_one_process_per_host(tmp_path: object) -> None:
    """Without Redis an flock in the shared folder elects one evaluator; the board is a file."""
    from pathlib import Path

    folder = Path(str(tmp_path))
    first, second = FileLease(folder / "lock"), FileLease(folder / "lock")
    assert await first.hold()
    assert not await second.hold()
    await first.release()
    assert await second.hold()
    await second.release()
    board = FileBoard(folder / "alerts.json")
    assert await board.read() is None
    await board.publish([{"name": "Lag"}])
    assert await FileBoard(folder / "alerts.json").read() == [{"name": "Lag"}]
