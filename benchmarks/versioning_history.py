"""One item's long version history, written with Postgres COPY into the app's own tables.

The reference app's `seed()` inserts through SQLAlchemy in multi-row batches and draws
one body size per item: an item of 100,000 versions at its sizes (up to 100 KB each)
would hold gigabytes and take minutes. This writes one item straight into the app's
`content_items` and `versions` tables (its schema, its column layout) with COPY, in
seconds: every version an edit of the one before, of a document of about `body_bytes`,
except a run of `wide_count` versions cut from a document of `wide_bytes` (the pair the
benchmark compares lies in that run). Kinds follow `seed()`'s layout: every
`publish_every`-th version archived (zstd-compressed) but the last, which is published,
the rest autosaves, and the newest the current draft.

`cursors_after` gives the listing's cursors to pages deep in such a history.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from examples.versioning.compression import compress_text
from examples.versioning.database import session_factory
from examples.versioning.schema import ContentItem, Version
from examples.versioning.seed import USERS, _kind
from examples.versioning.signing import Signer
from examples.versioning.texts import DocumentWriter
from overdrive.db import paginate

__all__ = ["History", "cursors_after", "write_history"]

_EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
_COPY_ROWS = 5_000
_COLUMNS = (
    "content_item_id",
    "number",
    "kind",
    "author",
    "created_at",
    "lock_version",
    "text_bytes",
    "body",
    "text_body",
    "body_zstd",
)


@dataclass(frozen=True, slots=True)
class History:
    """What to write: `versions` versions, numbers `wide_from` .. `wide_from + wide_count - 1`
    of about `wide_bytes`, the others of about `body_bytes`."""

    versions: int = 100_000
    body_bytes: int = 2_000
    wide_from: int = 60_000
    wide_count: int = 20
    wide_bytes: int = 100_000
    publish_every: int = 50
    seed: int = 11

    def __post_init__(self) -> None:
        if self.wide_count < 2 or self.wide_from < 1:
            raise ValueError("need wide_count >= 2 and wide_from >= 1")
        if self.wide_from + self.wide_count > self.versions:
            raise ValueError("the wide run must end before the newest version (the draft)")
        if min(self.body_bytes, self.wide_bytes, self.publish_every) < 1:
            raise ValueError("body sizes and publish_every must be positive")

    def is_wide(self, number: int) -> bool:
        return self.wide_from <= number < self.wide_from + self.wide_count


def _rows(item_id: int, content_id: str, history: History) -> Iterator[tuple[Any, ...]]:
    narrow = DocumentWriter(history.seed, sentences=400).versions(history.body_bytes)
    wide = DocumentWriter(history.seed + 1, sentences=4000).versions(history.wide_bytes)
    authors = list(USERS)[:3]
    # Two years of editing, whatever the length: a version every few minutes at 100,000.
    step = datetime.timedelta(seconds=2 * 365 * 86400 / history.versions)
    for number in range(1, history.versions + 1):
        text = next(wide) if history.is_wide(number) else next(narrow)
        kind = _kind(number, history.versions, history.publish_every)
        archived = kind == "archived"
        encoded = text.encode()
        body = {"title": f"{content_id} v{number}", "words": text.count(" ") + 1}
        yield (
            item_id,
            number,
            kind,
            authors[number % len(authors)],
            _EPOCH + step * number,
            number,
            len(encoded),
            json.dumps(body),
            None if archived else text,
            compress_text(text) if archived else None,
        )


async def write_history(
    engine: AsyncEngine,
    schema: str,
    address: tuple[str, str],
    history: History,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Create the item at `address` (content_type, content_id) in `schema` with its
    whole history, in one transaction; returns the item's id."""
    content_type, content_id = address
    async with engine.begin() as connection:
        item_id = int(
            (
                await connection.execute(
                    insert(ContentItem)
                    .values(
                        content_type=content_type,
                        content_id=content_id,
                        title=f"A document with {history.versions:,} versions",
                        next_number=history.versions + 1,
                        created_at=_EPOCH,
                    )
                    .returning(ContentItem.id)
                )
            ).scalar_one()
        )
        raw = await connection.get_raw_connection()
        copier = raw.driver_connection
        assert copier is not None
        batch: list[tuple[Any, ...]] = []
        written = 0
        for row in _rows(item_id, content_id, history):
            batch.append(row)
            if len(batch) == _COPY_ROWS or row[1] == history.versions:
                await copier.copy_records_to_table(
                    Version.__tablename__, records=batch, columns=_COLUMNS, schema_name=schema
                )
                written += len(batch)
                batch = []
                if progress is not None:
                    progress(written, history.versions)
    return item_id


async def cursors_after(
    engine: AsyncEngine, signer: Signer, item_id: int, numbers: Sequence[int]
) -> list[str]:
    """The listing's `next_cursor` right after each of `numbers` (each > 1), as a client
    paging down the history would hold it: a page deep in a long history, reached
    without walking there.

    Made by `paginate` itself over the two rows found by primary key (cheap with or
    without the workload's indexes), signed with the server's key for the item's
    unfiltered listing, derived from its `signer` as `reads.list_versions` derives it.
    """
    key = signer.subkey(f"versions-cursor:{item_id}:")
    async with session_factory(engine)() as session:
        found = await session.execute(
            select(Version.number, Version.id).where(Version.content_item_id == item_id)
        )
        ids = {int(number): int(row_id) for number, row_id in found.all()}
        cursors = []
        for number in numbers:
            page = await paginate(
                session,
                select(Version.number).where(Version.id.in_((ids[number], ids[number - 1]))),
                order_by=(Version.number.desc(),),
                limit=1,
                secret=key,
            )
            if page.next_cursor is None:
                raise ValueError(f"no version before {number} to page to")
            cursors.append(page.next_cursor)
    return cursors
