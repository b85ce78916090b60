"""What travels on the invalidation bus (one Redis pub/sub channel per namespace).

("inv", origin node, message id, wants ack, [(tag key, version, floor), ...])
("ack", acking node, message id, origin node)
("hb", node, sequence)         a node hears its own heartbeat: proof it hears the bus
("fill", entry key)            a loader stored a value that other processes wait for
"""

from __future__ import annotations

from typing import Any

import msgpack

INVALIDATE = "inv"
ACK = "ack"
HEARTBEAT = "hb"
FILL = "fill"

Change = tuple[str, int, int | None]


def encode(*fields: Any) -> bytes:
    data: bytes = msgpack.packb(fields, use_bin_type=True)
    return data


def decode(data: bytes) -> list[Any]:
    fields = msgpack.unpackb(data, raw=False)
    if not isinstance(fields, list) or not fields:
        raise ValueError("not a bus message")
    return fields


def encode_fill(entry_key: str) -> bytes:
    return encode(FILL, entry_key)
