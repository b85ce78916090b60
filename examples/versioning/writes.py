"""Writing versions: autosave and publish, each one transaction under the item's lock.

Writes commit first and invalidate after, so no cache tier can keep a value older than a
committed write. Every write to an item first takes the item's row lock
(`UPDATE content_items ... RETURNING next_number`): on Postgres a row lock, on SQLite
the database write lock. Autosave, publish and the retention job therefore serialise
per item, always in the same lock order, and version numbers come out dense and ordered.

The draft is the head of the item's history. An autosave checks the client's
`lock_version` against the current draft's, turns that draft into an `autosave` version
and inserts the new text as the new draft (whose lock_version is its number). A version's
text therefore never changes once written, which is what lets diffs be cached forever.
"""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from examples.versioning.compression import compress_text, decompress_text
from examples.versioning.items import ItemRef
from examples.versioning.reads import (
    METADATA_COLUMNS,
    full_row,
    metadata,
    precompute_diff,
)
from examples.versioning.runtime import Runtime
from examples.versioning.schema import ContentItem, Version

__all__ = ["autosave", "publish"]


async def _lock_item(session: AsyncSession, item_id: int) -> int:
    """Take the item's write lock; returns the next version number to allocate."""
    next_number = await session.scalar(
        update(ContentItem)
        .where(ContentItem.id == item_id)
        .values(next_number=ContentItem.next_number)
        .returning(ContentItem.next_number)
    )
    if next_number is None:
        raise HTTPException(404, "no such content item")
    return int(next_number)


async def _current_draft(session: AsyncSession, item_id: int) -> Any:
    return (
        await session.execute(
            select(*METADATA_COLUMNS).where(
                Version.content_item_id == item_id, Version.kind == "draft"
            )
        )
    ).first()


def _check_lock_version(current: Any, lock_version: int | None) -> None:
    """409 with the current draft unless the client edited exactly that draft."""
    if lock_version == (None if current is None else current.lock_version):
        return
    message = (
        "the draft changed since you loaded it"
        if current is not None
        else "there is no current draft: send lock_version null to start one"
    )
    raise HTTPException(
        409, {"message": message, "current": None if current is None else metadata(current)}
    )


async def autosave(
    state: Runtime,
    item: ItemRef,
    *,
    author: str,
    lock_version: int | None,
    body: dict[str, Any],
    text: str,
) -> tuple[dict[str, Any], bool]:
    """Save `text` as the item's new draft; returns (its metadata, whether a draft was new).

    409 with the current draft when `lock_version` is not the current draft's (or is
    given when there is no draft, or missing when there is one).
    """
    now = datetime.datetime.now(datetime.UTC)
    # A save that is already stale is refused without queueing for the item's lock: under
    # contention most conflicts are answered here, and the lock is left to saves that can
    # win. The check is repeated under the lock, which is what makes it safe.
    async with state.sessions() as session:
        _check_lock_version(await _current_draft(session, item.id), lock_version)
    async with state.sessions() as session, session.begin():
        number = await _lock_item(session, item.id)
        current = await _current_draft(session, item.id)
        _check_lock_version(current, lock_version)
        if current is not None:
            await session.execute(
                update(Version).where(Version.id == current.id).values(kind="autosave")
            )
        await session.execute(
            insert(Version).values(
                content_item_id=item.id,
                number=number,
                kind="draft",
                author=author,
                created_at=now,
                lock_version=number,
                body=body,
                text_body=text,
                text_bytes=len(text.encode()),
            )
        )
        await session.execute(
            update(ContentItem).where(ContentItem.id == item.id).values(next_number=number + 1)
        )
    # Only the listings this save changed: the new draft shows in the unfiltered and draft
    # listings, the draft it replaces moves to the autosave listing. Published and archived
    # listings are untouched, so they stay cached (the item-wide `versions:` tag would
    # drop them on every keystroke-driven save).
    tags = [
        item.listing_tag(None),
        item.listing_tag("draft"),
        item.tag("draft"),
        item.version_tag(number),
    ]
    if current is not None:
        tags += [item.listing_tag("autosave"), item.version_tag(current.number)]
    await state.caching.invalidate(*tags)
    if current is not None and state.optimised:
        state.spawn(precompute_diff(state, item, current.number, number))
    saved = {
        "number": number,
        "kind": "draft",
        "author": author,
        "created_at": now.isoformat(),
        "lock_version": number,
        "text_bytes": len(text.encode()),
    }
    return saved, current is None


async def publish(state: Runtime, item: ItemRef, number: int) -> dict[str, Any]:
    """Publish version `number`; the previously published one becomes archived (compressed)."""
    async with state.sessions() as session, session.begin():
        await _lock_item(session, item.id)
        target = await full_row(session, item.id, Version.number == number)
        if target is None:
            raise HTTPException(404, f"no version {number} of this item")
        if target.kind == "published":
            return {"published": metadata(target), "archived": None}
        previous = (
            await session.execute(
                select(Version.id, Version.number, Version.text_body).where(
                    Version.content_item_id == item.id, Version.kind == "published"
                )
            )
        ).first()
        if previous is not None:
            # Archive first: the partial unique index allows one published row per item.
            await session.execute(
                update(Version)
                .where(Version.id == previous.id)
                .values(
                    kind="archived",
                    text_body=None,
                    body_zstd=compress_text(previous.text_body or ""),
                )
            )
        values: dict[str, Any] = {"kind": "published"}
        if target.body_zstd is not None:
            values.update(text_body=decompress_text(target.body_zstd), body_zstd=None)
        await session.execute(update(Version).where(Version.id == target.id).values(values))
    tags = [
        item.tag("versions"),
        item.tag("published"),
        item.tag("draft"),
        item.version_tag(number),
    ]
    if previous is not None:
        tags.append(item.version_tag(previous.number))
    await state.caching.invalidate(*tags)
    return {
        "published": {**metadata(target), "kind": "published"},
        "archived": None if previous is None else previous.number,
    }
