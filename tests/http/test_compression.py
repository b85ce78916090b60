"""Compression: negotiation, round trips, limits, streaming, ETag and Vary."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import zlib

import brotli
import pytest
import zstandard

from overdrive import Cache, CompressionMiddleware, ResponseCacheMiddleware
from overdrive.http.compression import Compressor
from overdrive.types import Receive, Scope, Send
from tests.http.conftest import FakeClock, Origin, asgi_get, client_for

BIG = json.dumps([{"id": i, "name": f"item {i}"} for i in range(200)]).encode()


def decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return brotli.decompress(body)  # type: ignore[no-any-return]
    return zstandard.ZstdDecompressor().decompressobj().decompress(body)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [("gzip", "gzip"), ("br, gzip", "br"), ("zstd, br, gzip", "zstd"),
     ("gzip;q=1.0, br;q=0.5", "gzip"), ("br;q=0, gzip", "gzip"), ("*", "zstd"),
     ("*;q=0.1, gzip;q=0.5", "gzip"), ("identity", None), ("gzip;q=0", None),
     ("x-gzip", "gzip"), ("gzip;q=bogus, br", "br"), ("", None)],
)
def test_negotiation_follows_q_values(accept: str, chosen: str | None) -> None:
    """Highest q wins; ties go to zstd, then br, then gzip; q=0 refuses."""
    assert Compressor().negotiate(accept.encode()) == chosen


@pytest.mark.parametrize("encoding", ["zstd", "br", "gzip"])
async def test_round_trip_per_encoding(origin: Origin, encoding: str) -> None:
    """Each encoding decodes back to the original body, with Vary and a weak ETag."""
    origin.body = BIG
    origin.headers["etag"] = '"abc"'
    async with client_for(CompressionMiddleware(origin)) as client:
        response = await client.get("/", headers={"accept-encoding": encoding})
    assert response.headers["content-encoding"] == encoding
    assert "accept-encoding" in response.headers["vary"].lower()
    assert response.headers["etag"] == 'W/"abc"'
    assert int(response.headers["content-length"]) < len(BIG)
    # httpx decodes gzip/br/zstd itself; compare the decoded body.
    assert response.content == BIG


async def test_small_bodies_are_not_compressed(origin: Origin) -> None:
    """Bodies under minimum_size (1 KiB by default) go out as they are."""
    origin.body = b"x" * 100
    async with client_for(CompressionMiddleware(origin)) as client:
        response = await client.get("/", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize("content_type", ["image/png", "application/zip", "video/mp4",
                                          "text/event-stream"])
async def test_compressed_media_is_skipped(origin: Origin, content_type: str) -> None:
    """Images, archives, video and event streams are never recompressed."""
    origin.body = BIG
    origin.headers["content-type"] = content_type
    async with client_for(CompressionMiddleware(origin)) as client:
        response = await client.get("/", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in response.headers


async def test_partial_content_is_skipped(origin: Origin) -> None:
    """206 responses keep their byte ranges meaningful."""
    origin.body, origin.status = BIG, 206
    async with client_for(CompressionMiddleware(origin)) as client:
        response = await client.get("/", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in response.headers


async def test_already_encoded_responses_are_skipped(origin: Origin) -> None:
    """A body the app already encoded is passed on untouched."""
    origin.body = gzip.compress(BIG)
    origin.headers["content-encoding"] = "gzip"
    async with client_for(CompressionMiddleware(origin)) as client:
        response = await client.get("/", headers={"accept-encoding": "br"})
    assert response.headers["content-encoding"] == "gzip"


async def test_streamed_bodies_are_flushed_per_chunk() -> None:
    """Each streamed chunk is compressed and sent at once, decodable as it arrives."""
    gate = asyncio.Event()

    async def ndjson(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-ndjson")]})
        await send({"type": "http.response.body", "body": b'{"n": 1}\n' * 200,
                    "more_body": True})
        await gate.wait()
        await send({"type": "http.response.body", "body": b'{"n": 2}\n', "more_body": False})

    sent: list[dict[str, object]] = []
    decompressor = zlib.decompressobj(31)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not gate.is_set():
            # The first chunk decodes completely before the app sends the second one.
            assert decompressor.decompress(message["body"]) == b'{"n": 1}\n' * 200  # type: ignore[arg-type]
            gate.set()

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [
        (b"accept-encoding", b"gzip")]}
    await asyncio.wait_for(CompressionMiddleware(ndjson)(scope, receive, send), timeout=5)
    headers = dict(sent[0]["headers"])  # type: ignore[arg-type]
    assert headers[b"content-encoding"] == b"gzip"
    assert b"content-length" not in headers
    rest = decompressor.decompress(sent[2]["body"]) + decompressor.flush()  # type: ignore[arg-type]
    assert rest == b'{"n": 2}\n'


async def test_streamed_body_with_small_content_length_is_not_compressed() -> None:
    """The minimum size is honoured for streamed bodies that declare their length."""

    async def small_stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"6")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    async with client_for(CompressionMiddleware(small_stream)) as client:
        response = await client.get("/", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in response.headers
    assert response.content == b"abcdef"


async def test_cached_bodies_are_compressed_once_per_encoding(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """The response cache stores each encoding once; hits never recompress."""
    origin.body = BIG
    compressor = Compressor()
    calls: list[str] = []
    original = compressor.compress

    def counting(body: bytes, encoding: str) -> bytes:
        calls.append(encoding)
        return original(body, encoding)

    compressor.compress = counting  # type: ignore[method-assign]
    app = CompressionMiddleware(
        ResponseCacheMiddleware(origin, cache=memory_cache, compressor=compressor, clock=clock),
        compressor=compressor,
    )
    async with client_for(app) as client:
        responses = [await client.get("/", headers={"accept-encoding": encoding})
                     for encoding in ("br", "gzip", "zstd", "br", "identity")]
    assert sorted(calls) == ["br", "gzip", "zstd"]
    assert [r.headers.get("content-encoding") for r in responses] == [
        "br", "gzip", "zstd", "br", None]
    assert all(r.content == BIG for r in responses)
    assert responses[3].headers["x-cache"] == "HIT"
    assert responses[3].headers["etag"].startswith('W/"')
    assert responses[4].headers["etag"].startswith('"')
    assert origin.calls == 1


async def test_weak_etag_of_compressed_hit_revalidates(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """If-None-Match with the weak ETag of a compressed hit answers 304."""
    origin.body = BIG
    app = ResponseCacheMiddleware(origin, cache=memory_cache, compressor=Compressor(),
                                  clock=clock)
    async with client_for(app) as client:
        first = await client.get("/", headers={"accept-encoding": "gzip"})
        again = await client.get("/", headers={"accept-encoding": "gzip",
                                              "if-none-match": first.headers["etag"]})
    assert again.status_code == 304


def test_bad_configuration_is_refused() -> None:
    """Unknown encodings and negative sizes fail at construction."""
    from overdrive import ConfigurationError

    with pytest.raises(ConfigurationError):
        Compressor(encodings=("deflate",))
    with pytest.raises(ConfigurationError):
        Compressor(minimum_size=-1)


def test_codecs_decode_with_their_reference_libraries() -> None:
    """compress() output is standard zstd, brotli and gzip."""
    compressor = Compressor()
    for encoding in ("zstd", "br", "gzip"):
        assert decode(compressor.compress(BIG, encoding), encoding) == BIG


async def test_response_cache_compresses_what_it_does_not_store(
    origin: Origin, memory_cache: Cache, clock: FakeClock
) -> None:
    """With a compressor the cache compresses pass-through responses on the way out."""
    origin.body = BIG
    origin.headers["cache-control"] = "no-store"
    app = ResponseCacheMiddleware(origin, cache=memory_cache, compressor=Compressor(),
                                  clock=clock)
    async with client_for(app) as client:
        response = await client.get("/", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == BIG


async def test_pathsend_responses_pass_through() -> None:
    """A file sent with http.response.pathsend keeps its start message and is not touched."""

    async def file_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/plain"), (b"content-length", b"5000")]})
        await send({"type": "http.response.pathsend", "path": "/tmp/file.txt"})

    sent = await asgi_get(CompressionMiddleware(file_app), "/", (b"accept-encoding", b"gzip"))
    assert [message["type"] for message in sent] == ["http.response.start",
                                                     "http.response.pathsend"]
    assert b"content-encoding" not in dict(sent[0]["headers"])  # type: ignore[arg-type]


_THREADED_COMPRESSION = """
import os, sys, threading, zstandard
from overdrive.http.compression import Compressor
compressor = Compressor()
body = os.urandom(50_000) + b"x" * 150_000
failures = []

def work():
    for _ in range(50):
        try:
            out = compressor.compress(body, "zstd")
            assert zstandard.ZstdDecompressor().decompress(out) == body
        except Exception as error:
            failures.append(repr(error))

threads = [threading.Thread(target=work) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(failures), failures[:1])
"""


def test_one_compressor_serves_several_threads_at_once() -> None:
    """The response cache compresses large bodies in worker threads with one shared
    Compressor: concurrent zstd calls must each succeed (a shared ZstdCompressor failed
    with "cannot compress", or crashed the process). Run apart, so a crash fails the test."""
    result = subprocess.run(
        [sys.executable, "-c", _THREADED_COMPRESSION],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 []", result.stdout
