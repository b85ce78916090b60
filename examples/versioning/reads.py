"""Reading versions: the queries behind the read routes.

Reads return JSON-ready dicts. Whole responses are cached by the HTTP layer in optimised
mode (`cache_policy` on the routes); what is cached here is data several responses
share: an item's address, and diffs. A version's text never changes once written (see
`writes`), so a diff is cached by its version pair for as long as the cache keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from types import SimpleNamespace
from typing import Any, cast

from fastapi import HTTPException
from sqlalchemy import ColumnElement, Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.versioning.compression import decompress_text
from examples.versioning.diffs import compute_diff
from examples.versioning.items import ItemRef
from examples.versioning.runtime import Runtime
from examples.versioning.schema import ContentItem, Version
from overdrive.db import InvalidCursor, paginate

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
_METADATA_NAMES = tuple(column.key for column in METADATA_COLUMNS)
FULL_COLUMNS = (*METADATA_COLUMNS, Version.body, Version.text_body, Version.body_zstd)
_ADDRESS_TTL = 3600.0


async def full_row(session: AsyncSession, item_id: int,
                   condition: ColumnElement[bool]) -> Row[Any] | None:
    """The one version of item `item_id` that `condition` picks, every column, or None."""
    result = await session.execute(
        select(*FULL_COLUMNS).where(Version.content_item_id == item_id, condition)
    )
    return result.first()


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

    Keyset pagination (`overdrive.db.paginate`): page 500 costs what page 1 costs. The
    cursor is signed with a key of this listing's own (item and kind filter), so a cursor
    of another item or filter fails its signature like an edited one.
    """
    conditions = [Version.content_item_id == item.id]
    if kind is not None:
        conditions.append(Version.kind == kind)
    secret = state.signer.subkey(f"versions-cursor:{item.id}:{kind or ''}")
    try:
        async with state.sessions() as session:
            page = await paginate(
                session,
                # paginate() is typed for one-column selects; this one selects seven.
                cast("Select[Any]", select(*METADATA_COLUMNS).where(*conditions)),
                order_by=(Version.number.desc(),),
                limit=limit,
                cursor=cursor,
                secret=secret,
            )
    except InvalidCursor as error:
        raise HTTPException(400, "malformed or foreign cursor: start again without one") from (
            error
        )
    # paginate() hands back plain tuples when several columns are selected.
    rows = [SimpleNamespace(**dict(zip(_METADATA_NAMES, row, strict=True))) for row in page.items]
    return {"items": [metadata(row) for row in rows], "next_cursor": page.next_cursor}


async def get_version(state: Runtime, item: ItemRef, number: int) -> dict[str, Any]:
    async with state.sessions() as session:
        row = await full_row(session, item.id, Version.number == number)
    if row is None:
        raise HTTPException(404, f"no version {number} of this item")
    return full(row)


async def get_current(state: Runtime, item: ItemRef, kind: str) -> dict[str, Any]:
    """The current draft or the published version (`kind`), or 404."""
    async with state.sessions() as session:
        row = await full_row(session, item.id, Version.kind == kind)
    if row is None:
        raise HTTPException(404, f"this item has no {kind} version")
    return full(row)


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
