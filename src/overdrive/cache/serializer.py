"""Values are serialised once, and compressed once when large, on the way into the cache.

msgpack is the default: it is compact, fast, and keeps `bytes` distinct from `str`.
Any object with `dumps`/`loads` can replace it (JSON, pickle for trusted data, ...).
"""

from __future__ import annotations

from typing import Any, Protocol

import msgpack
import zstandard

from overdrive.errors import SerializationError

RAW = 0
ZSTD = 1


class Serializer(Protocol):
    def dumps(self, value: Any, /) -> bytes: ...

    def loads(self, data: bytes, /) -> Any: ...


class MsgpackSerializer:
    """msgpack with bytes kept as bytes; tuples come back as lists."""

    def dumps(self, value: Any, /) -> bytes:
        try:
            data: bytes = msgpack.packb(value, use_bin_type=True, datetime=False)
        except (TypeError, ValueError, OverflowError) as error:
            raise SerializationError(
                f"cannot serialise a value of type {type(value).__name__} with msgpack "
                f"({error}); convert it to dict/list/str/bytes/int/float/bool/None first, "
                "or pass Cache(serializer=...)"
            ) from error
        return data

    def loads(self, data: bytes, /) -> Any:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)


class Codec:
    """Serialise then zstd-compress payloads above a threshold; the reverse on the way out."""

    def __init__(self, serializer: Serializer, compress_min_bytes: int, level: int = 3) -> None:
        self.serializer = serializer
        self.compress_min_bytes = compress_min_bytes
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._decompressor = zstandard.ZstdDecompressor()

    def encode(self, value: Any) -> tuple[bytes, int]:
        payload = self.serializer.dumps(value)
        if not isinstance(payload, bytes):
            raise SerializationError(
                f"serializer {type(self.serializer).__name__}.dumps returned "
                f"{type(payload).__name__}, not bytes"
            )
        if len(payload) > self.compress_min_bytes:
            compressed: bytes = self._compressor.compress(payload)
            if len(compressed) < len(payload):
                return compressed, ZSTD
        return payload, RAW

    def decode(self, payload: bytes, codec: int) -> Any:
        try:
            if codec == ZSTD:
                payload = self._decompressor.decompress(payload)
            elif codec != RAW:
                raise SerializationError(f"unknown payload codec {codec}")
            return self.serializer.loads(payload)
        except SerializationError:
            raise
        except Exception as error:
            raise SerializationError(f"cannot decode a cached payload: {error}") from error
