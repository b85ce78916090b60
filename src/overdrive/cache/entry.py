"""A cache entry carries its own freshness and the tag versions it was computed under.

The tag snapshot is what makes invalidation O(1): nothing looks for the entries of a
tag, every read compares the entry's snapshot with the tags' current versions instead.
"""

from __future__ import annotations

from typing import Any

import msgpack

from overdrive.errors import SerializationError

# (full tag key, version) pairs; the namespace epoch tag is always among them.
Snapshot = tuple[tuple[str, int], ...]

# "No usable entry here" from a synchronous lookup: `None` is a cacheable value.
MISSING: Any = object()


class CacheEntry:
    """One cached value with its timestamps (epoch seconds).

    `value` is the stored object itself (shared with other readers unless the cache was
    built with `l1_copy=True`). Fresh until `fresh_until`; after that, served stale
    until `stale_until` (stale-while-revalidate), then gone.
    """

    __slots__ = (
        "codec",
        "created_at",
        "delta",
        "fresh_until",
        "group",
        "payload",
        "snapshot",
        "stale_until",
        "value",
    )

    def __init__(
        self,
        value: Any,
        payload: bytes,
        codec: int,
        created_at: float,
        fresh_until: float,
        stale_until: float,
        snapshot: Snapshot,
        group: int,
        delta: float = 0.0,
    ) -> None:
        self.value = value
        self.payload = payload
        self.codec = codec
        self.created_at = created_at
        self.fresh_until = fresh_until
        self.stale_until = stale_until
        self.snapshot = snapshot
        self.group = group
        # Seconds the loader took: XFetch refreshes costly values earlier than cheap ones.
        self.delta = delta

    def __repr__(self) -> str:
        return (
            f"CacheEntry(value={self.value!r:.60}, created_at={self.created_at:.3f}, "
            f"fresh_until={self.fresh_until:.3f}, stale_until={self.stale_until:.3f})"
        )

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    @property
    def size(self) -> int:
        """Bytes this entry accounts for in L1: its payload plus a fixed bookkeeping share."""
        return len(self.payload) + 200 + 64 * len(self.snapshot)


def encode_header(
    created_at: float,
    fresh_until: float,
    stale_until: float,
    codec: int,
    tag_versions: list[Any],
    delta: float = 0.0,
) -> bytes:
    """The L2 wire header; Redis' Lua reads it with `cmsgpack.unpack_one` to check tags."""
    header: bytes = msgpack.packb(
        [created_at, fresh_until, stale_until, codec, tag_versions, delta], use_bin_type=True
    )
    return header


Wire = tuple[float, float, float, int, list[Any], float, bytes]


def decode_wire(raw: bytes) -> Wire:
    """Split an L2 value into header fields, the flat [tag, version, ...] list and payload."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(raw)
    try:
        header = unpacker.unpack()
        created_at, fresh_until, stale_until, codec, tag_versions = header[:5]
        delta = float(header[5]) if len(header) > 5 else 0.0
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise SerializationError(f"malformed cache entry header: {error}") from error
    payload = raw[unpacker.tell() :]
    return (
        float(created_at),
        float(fresh_until),
        float(stale_until),
        int(codec),
        tag_versions,
        delta,
        payload,
    )
