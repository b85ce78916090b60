"""Response compression: zstd, br and gzip negotiated from `Accept-Encoding` q-values.

`Compressor` holds the negotiation and the codecs; the response cache uses it to compress
a stored body once per encoding, and `CompressionMiddleware` uses it for everything that
does not come from the cache. Levels are moderate on purpose (zstd 3, brotli 4, gzip 6):
the top levels cost several times the CPU for a few percent of size.

Streamed bodies are never buffered: Server-Sent Events pass through untouched, and other
streams are compressed chunk by chunk with a flush after each, so every chunk leaves when
the application sends it.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable
from typing import Protocol

import brotli
import zstandard

from overdrive.errors import ConfigurationError
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_ENCODINGS", "CompressingSend", "CompressionMiddleware", "Compressor"]

DEFAULT_ENCODINGS = ("zstd", "br", "gzip")
_SUPPORTED = frozenset(DEFAULT_ENCODINGS)
_NEVER_COMPRESSED_PREFIXES = (b"image/", b"video/", b"audio/", b"font/woff")
_NEVER_COMPRESSED = frozenset(
    {
        b"application/zip",
        b"application/gzip",
        b"application/x-gzip",
        b"application/zstd",
        b"application/x-bzip2",
        b"application/x-7z-compressed",
        b"application/x-rar-compressed",
        b"application/octet-stream",
        b"application/pdf",
        b"text/event-stream",
    }
)
_COMPRESSIBLE_IMAGES = frozenset({b"image/svg+xml", b"image/x-icon", b"image/bmp"})
_MEMO_LIMIT = 512


class StreamCompressor(Protocol):
    def chunk(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _ZstdStream:
    def __init__(self, level: int) -> None:
        self._compressor = zstandard.ZstdCompressor(level=level).compressobj()

    def chunk(self, data: bytes) -> bytes:
        out: bytes = self._compressor.compress(data)
        return out + self._compressor.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self._compressor.flush()


class _BrotliStream:
    def __init__(self, quality: int) -> None:
        self._compressor = brotli.Compressor(quality=quality)

    def chunk(self, data: bytes) -> bytes:
        return self._compressor.process(data) + self._compressor.flush()  # type: ignore[no-any-return]

    def finish(self) -> bytes:
        return self._compressor.finish()  # type: ignore[no-any-return]


class _GzipStream:
    def __init__(self, level: int) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 31)

    def chunk(self, data: bytes) -> bytes:
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._compressor.flush()


class Compressor:
    """Negotiation and codecs, configured once.

    ```python
    compressor = Compressor(minimum_size=1024)
    compressor.negotiate(b"gzip;q=0.5, br")   # "br"
    ```
    """

    def __init__(
        self,
        *,
        encodings: Iterable[str] = DEFAULT_ENCODINGS,
        minimum_size: int = 1024,
        zstd_level: int = 3,
        brotli_quality: int = 4,
        gzip_level: int = 6,
    ) -> None:
        self.encodings = tuple(encodings)
        unknown = set(self.encodings) - _SUPPORTED
        if unknown or not self.encodings:
            raise ConfigurationError(
                f"compression encodings must be among {DEFAULT_ENCODINGS}, not {self.encodings}"
            )
        if minimum_size < 0:
            raise ConfigurationError("compression minimum_size must be >= 0")
        self.minimum_size = minimum_size
        self.zstd_level = zstd_level
        self.brotli_quality = brotli_quality
        self.gzip_level = gzip_level
        # A ZstdCompressor must not be used by two threads at once (it crashes the
        # process), and the response cache compresses large bodies in worker threads
        # while the event loop compresses small ones: one compressor per thread.
        self._zstd = threading.local()
        self._preference = {name: len(self.encodings) - rank for rank, name in
                            enumerate(self.encodings)}
        self._negotiated: dict[bytes, str | None] = {}

    def negotiate(self, accept_encoding: bytes) -> str | None:
        """The best encoding the client accepts (highest q, then our order), or None."""
        memo = self._negotiated.get(accept_encoding, False)
        if memo is not False:
            return memo  # type: ignore[return-value]
        chosen = self._negotiate(accept_encoding.decode("latin-1"))
        if len(self._negotiated) >= _MEMO_LIMIT:
            self._negotiated.clear()
        self._negotiated[accept_encoding] = chosen
        return chosen

    def _negotiate(self, header: str) -> str | None:
        weights: dict[str, float] = {}
        wildcard: float | None = None
        for item in header.split(","):
            name, *params = item.strip().split(";")
            name = name.strip().lower()
            if not name:
                continue
            weight = 1.0
            for param in params:
                key, _, value = param.strip().partition("=")
                if key.strip().lower() == "q":
                    try:
                        weight = max(0.0, min(1.0, float(value)))
                    except ValueError:
                        weight = 0.0
            if name == "*":
                wildcard = weight
            elif name == "x-gzip":
                weights.setdefault("gzip", weight)
            else:
                weights[name] = weight
        best: tuple[float, int] = (0.0, 0)
        chosen = None
        for name in self.encodings:
            weight = weights.get(name, wildcard if wildcard is not None else 0.0)
            rank = (weight, self._preference[name])
            if weight > 0 and rank > best:
                best, chosen = rank, name
        return chosen

    def compressible(self, content_type: bytes) -> bool:
        """False for media that is already compressed and for event streams."""
        media = content_type.split(b";", 1)[0].strip().lower()
        if media in _NEVER_COMPRESSED:
            return False
        if media.startswith(_NEVER_COMPRESSED_PREFIXES):
            return media in _COMPRESSIBLE_IMAGES
        return True

    def compress(self, body: bytes, encoding: str) -> bytes:
        """The whole body in one go."""
        if encoding == "zstd":
            return self._zstd_compressor().compress(body)
        if encoding == "br":
            return brotli.compress(body, quality=self.brotli_quality)  # type: ignore[no-any-return]
        if encoding == "gzip":
            compressor = zlib.compressobj(self.gzip_level, zlib.DEFLATED, 31)
            return compressor.compress(body) + compressor.flush()
        raise ConfigurationError(f"unknown encoding {encoding!r}")

    def _zstd_compressor(self) -> zstandard.ZstdCompressor:
        compressor: zstandard.ZstdCompressor | None = getattr(self._zstd, "compressor", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self.zstd_level)
            self._zstd.compressor = compressor
        return compressor

    def stream(self, encoding: str) -> StreamCompressor:
        """A compressor for a body that arrives in chunks, flushed per chunk."""
        if encoding == "zstd":
            return _ZstdStream(self.zstd_level)
        if encoding == "br":
            return _BrotliStream(self.brotli_quality)
        return _GzipStream(self.gzip_level)


def weaken_etag(value: bytes) -> bytes:
    """A compressed body is not byte-identical to the original: its ETag becomes weak."""
    return value if value.startswith(b"W/") else b"W/" + value


def add_vary(headers: list[tuple[bytes, bytes]], name: bytes) -> None:
    """Add `name` to the response's Vary, once."""
    for index, (key, value) in enumerate(headers):
        if key.lower() == b"vary":
            if name.lower() not in {part.strip().lower() for part in value.split(b",")}:
                headers[index] = (key, value + b", " + name)
            return
    headers.append((b"vary", name))


class CompressionMiddleware:
    """Compresses responses the client accepts compressed.

    ```python
    app.add_middleware(CompressionMiddleware, minimum_size=1024)
    ```
    """

    def __init__(
        self, app: ASGIApp, *, compressor: Compressor | None = None, minimum_size: int = 1024
    ) -> None:
        self.app = app
        self.compressor = compressor or Compressor(minimum_size=minimum_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = b""
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept = value if not accept else accept + b"," + value
        encoding = self.compressor.negotiate(accept) if accept else None
        if encoding is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, CompressingSend(self.compressor, encoding, send))


class CompressingSend:
    """A `send` that compresses one response; the state is what `http.response.start`
    decided. Also used by the response cache for the responses it does not store."""

    __slots__ = ("compressor", "encoding", "send", "start", "state", "streamer")

    def __init__(self, compressor: Compressor, encoding: str, send: Send) -> None:
        self.compressor = compressor
        self.encoding = encoding
        self.send = send
        self.start: Message | None = None
        self.state = "undecided"  # then "identity" or "compress"
        self.streamer: StreamCompressor | None = None

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self._may_compress(message):
                self.start = message
            else:
                self.state = "identity"
                await self.send(message)
            return
        if kind != "http.response.body" or self.state == "identity":
            if self.state == "undecided" and self.start is not None:
                # No body message (e.g. `http.response.pathsend` for a file): the held
                # start goes out untouched and the response passes through.
                self.state = "identity"
                await self.send(self.start)
            await self.send(message)
            return
        start = self.start
        assert start is not None
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if self.state == "undecided":
            if not more and len(body) < self.compressor.minimum_size:
                self.state = "identity"
                await self.send(start)
                await self.send(message)
                return
            self.state = "compress"
            headers = [
                (k, weaken_etag(v) if k.lower() == b"etag" else v)
                for k, v in start.get("headers", ())
                if k.lower() != b"content-length"
            ]
            headers.append((b"content-encoding", self.encoding.encode()))
            add_vary(headers, b"Accept-Encoding")
            if not more:
                compressed = self.compressor.compress(body, self.encoding)
                headers.append((b"content-length", str(len(compressed)).encode()))
                await self.send({**start, "headers": headers})
                await self.send({"type": "http.response.body", "body": compressed})
                return
            self.streamer = self.compressor.stream(self.encoding)
            await self.send({**start, "headers": headers})
        streamer = self.streamer
        assert streamer is not None
        data = streamer.chunk(body) if body else b""
        if not more:
            data += streamer.finish()
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    def _may_compress(self, start: Message) -> bool:
        status = start["status"]
        if status < 200 or status in (204, 206, 304):
            return False
        content_type = b""
        for name, value in start.get("headers", ()):
            lowered = name.lower()
            if lowered == b"content-encoding":
                return False
            if lowered == b"content-type":
                content_type = value
            elif lowered == b"content-length" and value.isdigit() and (
                int(value) < self.compressor.minimum_size
            ):
                return False
        return self.compressor.compressible(content_type)
