"""Concurrent L2 reads share round trips; a lone read goes straight out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from overdrive.cache.batch import ReadBatcher


class Store:
    """Answers like MGET from a dict, counting round trips and their sizes."""

    def __init__(self, fail: bool = False) -> None:
        self.data = {f"k{i}": f"v{i}".encode() for i in range(1000)}
        self.trips: list[int] = []
        self.fail = fail

    async def fetch(self, keys: Sequence[str]) -> list[bytes | None]:
        self.trips.append(len(keys))
        await asyncio.sleep(0.01)
        if self.fail:
            raise ConnectionError("down")
        return [self.data.get(key) for key in keys]


async def test_a_lone_read_is_one_round_trip() -> None:
    """One caller: one GET each time, nothing batched or delayed."""
    store = Store()
    batcher = ReadBatcher(store.fetch)
    assert await batcher.get("k1") == b"v1"
    assert await batcher.get("absent") is None
    assert store.trips == [1, 1]


async def test_concurrent_reads_ride_few_round_trips() -> None:
    """500 concurrent reads of distinct keys: the first alone, the rest in one MGET."""
    store = Store()
    batcher = ReadBatcher(store.fetch)
    values = await asyncio.gather(*(batcher.get(f"k{i}") for i in range(500)))
    assert values == [f"v{i}".encode() for i in range(500)]
    assert store.trips == [1, 499]


async def test_readers_of_one_key_share_its_read() -> None:
    """Many readers of a hot key: it is fetched once per round trip."""
    store = Store()
    batcher = ReadBatcher(store.fetch)
    values = await asyncio.gather(*(batcher.get("k7") for _ in range(100)))
    assert values == [b"v7"] * 100
    assert sum(store.trips) == 1


async def test_errors_reach_every_reader_of_the_batch() -> None:
    """A failed round trip fails its readers; the batcher keeps working afterwards."""
    store = Store(fail=True)
    batcher = ReadBatcher(store.fetch)
    results = await asyncio.gather(
        *(batcher.get(f"k{i}") for i in range(10)), return_exceptions=True
    )
    assert all(isinstance(result, ConnectionError) for result in results)
    store.fail = False
    assert await batcher.get("k3") == b"v3"
    store.fail = True
    with pytest.raises(ConnectionError):
        await batcher.get("k4")
    await batcher.close()
