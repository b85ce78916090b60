"""Reading versions: the queries behind the read routes, each through the cache.

Reads return JSON-ready dicts, which is what the cache stores and the routes answer.
A version's text never changes once written (see `writes`), so a diff is cached by
its version pair for as long as the cache keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.versioning.compression import decompress_text
from examples.versioning.diffs import compute_diff
from examples.versioning.items import ItemRef
from examples.versioning.runtime import Runtime
from examples.versioning.schema import ContentItem, Version
from examples.versioning.signing import BadSignatureError

__all__ = [
    "FULL_COLUMNS",
    "METADATA_COLUMNS",
    "compare",
    "full",
    "get_current",
    "get_version",
    "list_versions",
    "metadata",
    "precompute_diff",
    "resolve_item",
]

METADATA_COLUMNS = (
    Version.id,
    Version.number,
    Version.kind,
    Version.author,
    Version.created_at,
    Version.lock_version,
    Version.text_bytes,
)
FULL_COLUMNS = (*METADATA_COLUMNS, Version.body, Version.text_body, Version.body_zstd)
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


async def resolve_item(state: Runtime, content_type: str, content_id: str) -> ItemRef:
    """The item behind an address, or 404."""

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
    return ItemRef(item_id, f"{content_type}/{content_id}")


async def list_versions(
    state: Runtime, item: ItemRef, *, kind: str | None, limit: int, cursor: str | None
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
            if position["i"] != item.id or position["k"] != (kind or ""):
                raise BadSignatureError("cursor of another listing")
            after = int(position["n"])
        except (BadSignatureError, KeyError, TypeError, ValueError) as error:
            raise HTTPException(400, "malformed or foreign cursor: start again without one") from (
                error
            )

    async def load() -> dict[str, Any]:
        conditions = [Version.content_item_id == item.id]
        if kind is not None:
            conditions.append(Version.kind == kind)
        if after is not None:
            conditions.append(Version.number < after)
        statement = (
            select(*METADATA_COLUMNS)
            .where(*conditions)
            .order_by(Version.number.desc())
            .limit(limit + 1)
        )
        async with state.sessions() as session:
            rows = list((await session.execute(statement)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            state.signer.dumps(
                "versions-cursor", {"i": item.id, "k": kind or "", "n": rows[-1].number}
            )
            if more
            else None
        )
        return {"items": [metadata(row) for row in rows], "next_cursor": next_cursor}

    page: dict[str, Any] = await state.caching.get_or_set(
        f"versions:{item.id}:{kind or '*'}:{limit}:{cursor or ''}",
        load,
        ttl=state.settings.cache_ttl,
        tags=(item.tag("versions"),),
    )
    return page


async def get_version(state: Runtime, item: ItemRef, number: int) -> dict[str, Any]:
    async def load() -> dict[str, Any] | None:
        async with state.sessions() as session:
            row = (
                await session.execute(
                    select(*FULL_COLUMNS).where(
                        Version.content_item_id == item.id, Version.number == number
                    )
                )
            ).first()
        return None if row is None else full(row)

    found: dict[str, Any] | None = await state.caching.get_or_set(
        f"version:{item.id}:{number}",
        load,
        ttl=state.settings.cache_ttl,
        tags=(item.version_tag(number), item.tag("autosaves")),
    )
    if found is None:
        raise HTTPException(404, f"no version {number} of this item")
    return found


async def get_current(state: Runtime, item: ItemRef, kind: str) -> dict[str, Any]:
    """The current draft or the published version (`kind`), or 404."""

    async def load() -> dict[str, Any] | None:
        async with state.sessions() as session:
            row = (
                await session.execute(
                    select(*FULL_COLUMNS).where(
                        Version.content_item_id == item.id, Version.kind == kind
                    )
                )
            ).first()
        return None if row is None else full(row)

    found: dict[str, Any] | None = await state.caching.get_or_set(
        f"{kind}:{item.id}", load, ttl=state.settings.cache_ttl, tags=(item.tag(kind),)
    )
    if found is None:
        raise HTTPException(404, f"this item has no {kind} version")
    return found


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


async def compare(state: Runtime, item: ItemRef, old: int, new: int) -> dict[str, Any]:
    """The diff from version `old` to `new`, computed once per pair: versions never change."""

    async def load() -> dict[str, Any]:
        async with state.sessions() as session:
            old_text = await _load_text(session, item.id, old)
            new_text = await _load_text(session, item.id, new)
        # difflib is pure Python: keep the event loop free while it runs.
        diff = await asyncio.to_thread(compute_diff, old_text, new_text)
        return {"from": old, "to": new, **diff}

    result: dict[str, Any] = await state.caching.get_or_set(
        f"diff:{item.id}:{old}:{new}", load, ttl=state.settings.diff_ttl
    )
    return result


async def precompute_diff(state: Runtime, item: ItemRef, old: int, new: int) -> None:
    """Warm the diff a reader is most likely to ask for: the new version against the last."""
    # A version pruned in between leaves nothing to warm.
    with contextlib.suppress(HTTPException):
        await compare(state, item, old, new)
