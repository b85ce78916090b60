"""Sizes, keys and the serializer: bad input gets a clear error."""

from __future__ import annotations

import pytest

from overdrive import CacheKeyError, ConfigurationError, SerializationError
from overdrive.cache.keys import check_key, check_tags
from overdrive.cache.serializer import RAW, ZSTD, Codec, MsgpackSerializer
from overdrive.cache.units import parse_bytes


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, 0), (1024, 1024), ("512KB", 512 * 1024), ("64MB", 64 * 1024**2), ("1 gb", 1024**3)],
)
def test_sizes_parse_like_configuration_files(size: int | str, expected: int) -> None:
    """Human sizes use binary multiples, like Redis' maxmemory."""
    assert parse_bytes(size) == expected


@pytest.mark.parametrize("size", ["lots", "-1MB", -5, "12XB", True])
def test_bad_sizes_are_refused(size: object) -> None:
    """Anything else is a ConfigurationError with an example of what works."""
    with pytest.raises(ConfigurationError):
        parse_bytes(size)  # type: ignore[arg-type]


def test_key_checks() -> None:
    """Keys are non-empty str within the limit, without NUL."""
    assert check_key("a:b{c}", 10) == "a:b{c}"
    for bad in ("", "x" * 11, "a\x00b", b"k", 1):
        with pytest.raises(CacheKeyError):
            check_key(bad, 10)


def test_tags_are_deduplicated_in_order() -> None:
    """Repeated tags count once, in their first position."""
    assert check_tags(["b", "a", "b"], 100) == ("b", "a")


def test_codec_compresses_only_when_it_pays() -> None:
    """Payloads over the threshold are zstd-compressed if that makes them smaller."""
    codec = Codec(MsgpackSerializer(), compress_min_bytes=64)
    small, kind = codec.encode("short")
    assert kind == RAW
    big, kind = codec.encode("abc" * 1000)
    assert kind == ZSTD
    assert len(big) < 300
    assert codec.decode(big, ZSTD) == "abc" * 1000
    assert codec.decode(small, RAW) == "short"


def test_corrupt_payloads_raise_serialization_errors() -> None:
    """Bytes that are not a payload of ours are reported, not returned as garbage."""
    codec = Codec(MsgpackSerializer(), compress_min_bytes=64)
    with pytest.raises(SerializationError):
        codec.decode(b"\x28\xb5\x2f\xfd garbage", ZSTD)
    with pytest.raises(SerializationError):
        codec.decode(b"\xc1", RAW)
    with pytest.raises(SerializationError):
        codec.decode(b"x", 7)


def test_a_custom_serializer_plugs_in() -> None:
    """Any object with dumps/loads replaces msgpack."""
    import json

    class Json:
        def dumps(self, value: object) -> bytes:
            return json.dumps(value).encode()

        def loads(self, data: bytes) -> object:
            return json.loads(data)

    codec = Codec(Json(), compress_min_bytes=1024)
    payload, kind = codec.encode({"a": [1, 2]})
    assert payload == b'{"a": [1, 2]}'
    assert codec.decode(payload, kind) == {"a": [1, 2]}
