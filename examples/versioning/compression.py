"""Archived version bodies are stored zstd-compressed; `compression_report` measures it.

Archived versions are read rarely and never change, so they are worth the compression
cost once; drafts and the published version stay plain, read on every request.
"""

from __future__ import annotations

from dataclasses import dataclass

import zstandard
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.versioning.schema import Version

__all__ = ["CompressionReport", "compress_text", "compression_report", "decompress_text"]

_LEVEL = 6


def compress_text(text: str) -> bytes:
    return zstandard.ZstdCompressor(level=_LEVEL).compress(text.encode())


def decompress_text(data: bytes) -> str:
    return zstandard.ZstdDecompressor().decompress(data).decode()


@dataclass(frozen=True, slots=True)
class CompressionReport:
    archived_versions: int
    raw_bytes: int
    stored_bytes: int

    @property
    def ratio(self) -> float:
        """Raw size over stored size (3.0 means archived bodies take a third of the space)."""
        return self.raw_bytes / self.stored_bytes if self.stored_bytes else 0.0


async def compression_report(session: AsyncSession) -> CompressionReport:
    """Sizes of every archived body as written by authors and as stored."""
    row = (
        await session.execute(
            select(
                func.count(Version.id),
                func.coalesce(func.sum(Version.text_bytes), 0),
                func.coalesce(func.sum(func.length(Version.body_zstd)), 0),
            ).where(Version.kind == "archived")
        )
    ).one()
    return CompressionReport(int(row[0]), int(row[1]), int(row[2]))
