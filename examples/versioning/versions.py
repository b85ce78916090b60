"""Reading and writing versions: the queries and transactions behind the routes.

Reads return JSON-ready dicts (what the cache stores and the routes answer); writes
commit first and invalidate after, so no cache tier can keep a value older than a
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

import asyncio
import contextlib
import datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from examples.versioning.compression import compress_text, decompress_text
from examples.versioning.diffs import compute_diff
from examples.versioning.runtime import Runtime
from examples.versioning.schema import ContentItem, Version
from examples.versioning.signing import BadSignatureError

__all__ = [
    "autosave",
    "compare",
    "get_current",
    "get_version",
    "list_versions",
    "publish",
    "resolve_item",
]

_METADATA = (
    Version.id,
    Version.number,
    Version.kind,
    Version.author,
    Version.created_at,
    Version.lock_version,
    Version.text_bytes,
)
_FULL = (*_METADATA, Version.body, Version.text_body, Version.body_zstd)
_ADDRESS_TTL = 3600.0


def _iso(moment: datetime.datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.isoformat()


def metadata(row: Any) -> dict[str, Any]:
    return {
        "number": row.number,
        "kind": row.kind,
        "author": row.author,
        "created_at": _iso(row.created_at),
        "lock_version": row.lock_version,
        "text_bytes": row.text_bytes,
    }


def full(row: Any) -> dict[str, Any]:
    text = row.text_body if row.body_zstd is None else decompress_text(row.body_zstd)
    return {**metadata(row), "body": row.body, "text": text}


async def resolve_item(state: Runtime, content_type: str, content_id: str) -> int:
    """The item's id for its address, or 404."""

    async def load() -> int | None:
        async with state.sessions() as session:
            found = await session.scalar(
                select(ContentItem.id).where(
                    ContentItem.content_type == content_type,
                    ContentItem.content_id == content_id,
                )
            )
        return None if found is None else int(found)

    item_id: int | None = await state.caching.get_or_set(
        f"item-address:{content_type}:{content_id}", load, ttl=_ADDRESS_TTL
    )
    if item_id is None:
        raise HTTPException(404, f"no content item {content_type}/{content_id}")
    return item_id


async def list_versions(
    state: Runtime, item_id: int, *, kind: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """One page of metadata, newest first, after the signed `cursor` (400 if it is bad).

    PLUG-IN POINT (query insight): with `overdrive.db` merged this becomes
    `paginate(session, statement, order_by=(Version.number.desc(),), limit=limit,
    cursor=cursor)`, mapping its `InvalidCursor` to the same 400.
    """
    after: int | None = None
    if cursor:
        try:
            position = state.signer.loads("versions-cursor", cursor)
            if position["i"] != item_id or position["k"] != (kind or ""):
                raise BadSignatureError("cursor of another listing")
            after = int(position["n"])
        except (BadSignatureError, KeyError, TypeError, ValueError) as error:
            raise HTTPException(400, "malformed or foreign cursor: start again without one") from (
                error
            )

    async def load() -> dict[str, Any]:
        conditions = [Version.content_item_id == item_id]
        if kind is not None:
            conditions.append(Version.kind == kind)
        if after is not None:
            conditions.append(Version.number < after)
        statement = (
            select(*_METADATA).where(*conditions).order_by(Version.number.desc()).limit(limit + 1)
        )
        async with state.sessions() as session:
            rows = list((await session.execute(statement)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            state.signer.dumps(
                "versions-cursor", {"i": item_id, "k": kind or "", "n": rows[-1].number}
            )
            if more
            else None
        )
        return {"items": [metadata(row) for row in rows], "next_cursor": next_cursor}

    page: dict[str, Any] = await state.caching.get_or_set(
        f"versions:{item_id}:{kind or '*'}:{limit}:{cursor or ''}",
        load,
        ttl=state.settings.cache_ttl,
        tags=(f"versions:{item_id}",),
    )
    return page


async def get_version(state: Runtime, item_id: int, number: int) -> dict[str, Any]:
    async def load() -> dict[str, Any] | None:
        async with state.sessions() as session:
            row = (
                await session.execute(
                    select(*_FULL).where(
                        Version.content_item_id == item_id, Version.number == number
                    )
                )
            ).first()
        return None if row is None else full(row)

    found: dict[str, Any] | None = await state.caching.get_or_set(
        f"version:{item_id}:{number}",
        load,
        ttl=state.settings.cache_ttl,
        tags=(f"version:{item_id}:{number}", f"autosaves:{item_id}"),
    )
    if found is None:
        raise HTTPException(404, f"no version {number} of this item")
    return found


async def get_current(state: Runtime, item_id: int, kind: str) -> dict[str, Any]:
    """The current draft or the published version (`kind`), or 404."""

    async def load() -> dict[str, Any] | None:
        async with state.sessions() as session:
            row = (
                await session.execute(
                    select(*_FULL).where(Version.content_item_id == item_id, Version.kind == kind)
                )
            ).first()
        return None if row is None else full(row)

    found: dict[str, Any] | None = await state.caching.get_or_set(
        f"{kind}:{item_id}", load, ttl=state.settings.cache_ttl, tags=(f"{kind}:{item_id}",)
    )
    if found is None:
        raise HTTPException(404, f"this item has no {kind} version")
    return found


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
            select(*_METADATA).where(Version.content_item_id == item_id, Version.kind == "draft")
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
    item_id: int,
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
        _check_lock_version(await _current_draft(session, item_id), lock_version)
    async with state.sessions() as session, session.begin():
        number = await _lock_item(session, item_id)
        current = await _current_draft(session, item_id)
        _check_lock_version(current, lock_version)
        if current is not None:
            await session.execute(
                update(Version).where(Version.id == current.id).values(kind="autosave")
            )
        await session.execute(
            insert(Version).values(
                content_item_id=item_id,
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
            update(ContentItem).where(ContentItem.id == item_id).values(next_number=number + 1)
        )
    tags = [f"versions:{item_id}", f"draft:{item_id}", f"version:{item_id}:{number}"]
    if current is not None:
        tags.append(f"version:{item_id}:{current.number}")
    await state.caching.invalidate(*tags)
    if current is not None and state.optimised:
        state.spawn(_precompute_diff(state, item_id, current.number, number))
    saved = {
        "number": number,
        "kind": "draft",
        "author": author,
        "created_at": now.isoformat(),
        "lock_version": number,
        "text_bytes": len(text.encode()),
    }
    return saved, current is None


async def publish(state: Runtime, item_id: int, number: int) -> dict[str, Any]:
    """Publish version `number`; the previously published one becomes archived (compressed)."""
    async with state.sessions() as session, session.begin():
        await _lock_item(session, item_id)
        target = (
            await session.execute(
                select(*_FULL).where(Version.content_item_id == item_id, Version.number == number)
            )
        ).first()
        if target is None:
            raise HTTPException(404, f"no version {number} of this item")
        if target.kind == "published":
            return {"published": metadata(target), "archived": None}
        previous = (
            await session.execute(
                select(Version.id, Version.number, Version.text_body).where(
                    Version.content_item_id == item_id, Version.kind == "published"
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
        f"versions:{item_id}",
        f"published:{item_id}",
        f"draft:{item_id}",
        f"version:{item_id}:{number}",
    ]
    if previous is not None:
        tags.append(f"version:{item_id}:{previous.number}")
    await state.caching.invalidate(*tags)
    return {
        "published": {**metadata(target), "kind": "published"},
        "archived": None if previous is None else previous.number,
    }


async def _load_text(session: AsyncSession, item_id: int, number: int) -> str:
    row = (
        await session.execute(
            select(Version.text_body, Version.body_zstd).where(
                Version.content_item_id == item_id, Version.number == number
            )
        )
    ).first()
    if row is None:
        raise HTTPException(404, f"no version {number} of this item")
    return str(row.text_body) if row.body_zstd is None else decompress_text(row.body_zstd)


async def compare(state: Runtime, item_id: int, old: int, new: int) -> dict[str, Any]:
    """The diff from version `old` to `new`, computed once per pair: versions never change."""

    async def load() -> dict[str, Any]:
        async with state.sessions() as session:
            old_text = await _load_text(session, item_id, old)
            new_text = await _load_text(session, item_id, new)
        # difflib is pure Python: keep the event loop free while it runs.
        diff = await asyncio.to_thread(compute_diff, old_text, new_text)
        return {"from": old, "to": new, **diff}

    result: dict[str, Any] = await state.caching.get_or_set(
        f"diff:{item_id}:{old}:{new}", load, ttl=state.settings.diff_ttl
    )
    return result


async def _precompute_diff(state: Runtime, item_id: int, old: int, new: int) -> None:
    """Warm the diff a reader is most likely to ask for: the new version against the last."""
    # A version pruned in between leaves nothing to warm.
    with contextlib.suppress(HTTPException):
        await compare(state, item_id, old, new)
