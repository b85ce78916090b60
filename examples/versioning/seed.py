"""Seeds the data set: items, their version histories, users and API tokens.

The default follows the demo's data set: 100 items, 5 of them with 10,000 versions and
the rest with 200. Each item's history is a run of autosaves with a published version
every `publish_every` versions (the ones before it archived, zstd-compressed) and a
current draft on top. Rows go in with multi-row `executemany` batches on one connection:
tens of thousands of versions per second, bodies included.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from examples.versioning.compression import compress_text
from examples.versioning.schema import ApiToken, ContentItem, User, Version
from examples.versioning.texts import DocumentWriter

__all__ = ["SeedReport", "SeedSizes", "seed"]

Progress = Callable[[int, int], None]
"""Called as progress(versions_written, versions_total) after every batch."""

_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
_BATCH_ROWS = 500
USERS = {
    "admin": "read write publish admin",
    "editor": "read write publish",
    "writer": "read write",
    "viewer": "read",
}


@dataclass(frozen=True, slots=True)
class SeedSizes:
    """How much to seed. `large_items` of the `items` get `large_versions` versions each."""

    items: int = 100
    large_items: int = 5
    large_versions: int = 10_000
    versions: int = 200
    min_body_bytes: int = 1_000
    max_body_bytes: int = 100_000
    publish_every: int = 50
    seed: int = 7

    def __post_init__(self) -> None:
        if not 0 <= self.large_items <= self.items:
            raise ValueError("large_items must be between 0 and items")
        if min(self.items, self.versions, self.large_versions, self.publish_every) < 1:
            raise ValueError("items, versions, large_versions and publish_every must be >= 1")
        if not 0 < self.min_body_bytes <= self.max_body_bytes:
            raise ValueError("need 0 < min_body_bytes <= max_body_bytes")

    def versions_of(self, index: int) -> int:
        return self.large_versions if index < self.large_items else self.versions

    @property
    def total_versions(self) -> int:
        return sum(self.versions_of(index) for index in range(self.items))


@dataclass(slots=True)
class SeedReport:
    items: list[tuple[str, str]] = field(default_factory=list)
    versions: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    """User name to API token secret (shown only here)."""


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _body_size(rng: random.Random, sizes: SeedSizes) -> int:
    """Log-uniform between the bounds: many small documents, a long tail of big ones."""
    low, high = math.log(sizes.min_body_bytes), math.log(sizes.max_body_bytes)
    return int(math.exp(rng.uniform(low, high)))


def _kind(number: int, total: int, publish_every: int) -> str:
    if number == total:
        return "draft"
    last_published = (total - 1) // publish_every * publish_every
    if number % publish_every == 0:
        return "published" if number == last_published else "archived"
    return "autosave"


async def seed(
    engine: AsyncEngine,
    sizes: SeedSizes | None = None,
    *,
    progress: Progress | None = None,
) -> SeedReport:
    """Fill empty tables with `sizes`' data set; returns the items and users' API tokens."""
    sizes = sizes or SeedSizes()
    report = SeedReport()
    total = sizes.total_versions
    rng = random.Random(sizes.seed)
    now = datetime.datetime.now(datetime.UTC)
    async with engine.begin() as connection:
        if await connection.scalar(select(func.count()).select_from(ContentItem)):
            raise ValueError("the tables already hold content: seed an empty database")
        for name, permissions in USERS.items():
            user_id = (
                await connection.execute(
                    insert(User).values(name=name, permissions=permissions).returning(User.id)
                )
            ).scalar_one()
            secret = "od_" + secrets.token_urlsafe(24)
            report.tokens[name] = secret
            await connection.execute(
                insert(ApiToken),
                [{"token_hash": hash_token(secret), "user_id": user_id, "created_at": now}],
            )
    authors = list(USERS)[:3]
    for index in range(sizes.items):
        count = sizes.versions_of(index)
        content_type = ("article", "page", "post")[index % 3]
        content_id = f"{content_type}-{index + 1:05d}"
        started = _EPOCH + datetime.timedelta(days=index % 30, minutes=index)
        # Spread the history over about 60 days whatever its length.
        step = datetime.timedelta(seconds=max(1.0, 60 * 86400 / max(count, 1)))
        writer = DocumentWriter(sizes.seed * 100_003 + index, sentences=400)
        texts = writer.versions(_body_size(rng, sizes))
        async with engine.begin() as connection:
            item_id = (
                await connection.execute(
                    insert(ContentItem)
                    .values(
                        content_type=content_type,
                        content_id=content_id,
                        title=writer.paragraph()[:80].rstrip(),
                        next_number=count + 1,
                        created_at=started,
                    )
                    .returning(ContentItem.id)
                )
            ).scalar_one()
            batch: list[dict[str, Any]] = []
            for number in range(1, count + 1):
                text = next(texts)
                kind = _kind(number, count, sizes.publish_every)
                archived = kind == "archived"
                batch.append(
                    {
                        "content_item_id": item_id,
                        "number": number,
                        "kind": kind,
                        "author": authors[number % len(authors)],
                        "created_at": started + step * number,
                        "lock_version": number,
                        "body": {"title": f"{content_id} v{number}", "words": text.count(" ") + 1},
                        "text_body": None if archived else text,
                        "body_zstd": compress_text(text) if archived else None,
                        "text_bytes": len(text.encode()),
                    }
                )
                if len(batch) >= _BATCH_ROWS:
                    await connection.execute(insert(Version), batch)
                    report.versions += len(batch)
                    batch = []
                    if progress is not None:
                        progress(report.versions, total)
            if batch:
                await connection.execute(insert(Version), batch)
                report.versions += len(batch)
                if progress is not None:
                    progress(report.versions, total)
        report.items.append((content_type, content_id))
    return report
