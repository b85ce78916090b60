"""Preview links: a signed, revocable token that shows an item's current draft.

The token is `Signer`-signed (id, item, expiry), so a tampered or forged token is refused
before any lookup. The row in `preview_tokens` makes it revocable. The preview response
is marked for shared caches (`s-maxage`, `Surrogate-Key`): in optimised mode Overdrive's
response cache keeps it by those very headers, as a CDN in front does, and autosave and
publish purge tag `draft:{type}/{id}`, revocation `preview-token:{id}`, in both. The
headers are written here rather than by `cache_policy` because the tags come from the
token's signed claims, which the path does not show.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import insert, select, update

from examples.versioning.auth import Writer
from examples.versioning.items import ItemRef
from examples.versioning.reads import full, full_row, resolve_item
from examples.versioning.runtime import Runtime, runtime
from examples.versioning.schema import ContentItem, PreviewToken, Version
from examples.versioning.signing import BadSignatureError

__all__ = ["router"]

router = APIRouter()
_PURPOSE = "preview"
# Refusals must not be kept by a shared cache: the next request may be valid again.
_NO_STORE = {"Cache-Control": "no-store"}


@router.post("/contents/{content_type}/{content_id}/previews", status_code=201)
async def create_preview(
    content_type: str,
    content_id: str,
    request: Request,
    principal: Writer,
) -> dict[str, Any]:
    """A preview link for the item's current draft (404 when it has none)."""
    state = runtime(request)
    item = await resolve_item(state, content_type, content_id)
    now = datetime.datetime.now(datetime.UTC)
    expires = now + state.settings.preview_lifetime
    token_id = secrets.token_hex(16)
    async with state.sessions() as session, session.begin():
        draft = await session.scalar(
            select(Version.number).where(
                Version.content_item_id == item.id, Version.kind == "draft"
            )
        )
        if draft is None:
            raise HTTPException(404, "this item has no draft to preview")
        await session.execute(
            insert(PreviewToken).values(
                id=token_id,
                content_item_id=item.id,
                created_by=principal.name,
                created_at=now,
                expires_at=expires,
            )
        )
    token = state.signer.dumps(
        _PURPOSE,
        {"t": token_id, "i": item.id, "a": item.address, "e": int(expires.timestamp())},
    )
    return {
        "id": token_id,
        "token": token,
        "url": f"/preview/{token}",
        "expires_at": expires.isoformat(),
    }


@router.delete("/previews/{token_id}", status_code=204)
async def revoke_preview(token_id: str, request: Request, principal: Writer) -> Response:
    state = runtime(request)
    now = datetime.datetime.now(datetime.UTC)
    async with state.sessions() as session, session.begin():
        result = await session.execute(
            update(PreviewToken)
            .where(PreviewToken.id == token_id, PreviewToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if not getattr(result, "rowcount", 0):
            exists = await session.scalar(
                select(PreviewToken.id).where(PreviewToken.id == token_id)
            )
            if exists is None:
                raise HTTPException(404, "no such preview token")
    await state.caching.invalidate(f"preview-token:{token_id}")
    return Response(status_code=204)


def _decode(state: Runtime, token: str) -> tuple[str, ItemRef]:
    try:
        claims = state.signer.loads(_PURPOSE, token)
        token_id, expires = str(claims["t"]), int(claims["e"])
        item = ItemRef(int(claims["i"]), str(claims["a"]))
    except (BadSignatureError, KeyError, TypeError, ValueError) as error:
        raise HTTPException(403, "invalid preview token", headers=_NO_STORE) from error
    if expires < datetime.datetime.now(datetime.UTC).timestamp():
        raise HTTPException(403, "this preview token has expired", headers=_NO_STORE)
    return token_id, item


@router.get("/preview/{token}")
async def preview(token: str, request: Request) -> Response:
    """The current draft behind a preview link, with headers a CDN can cache and purge by."""
    state = runtime(request)
    token_id, item = _decode(state, token)

    async with state.sessions() as session:
        revoked = (
            await session.execute(
                select(PreviewToken.revoked_at).where(PreviewToken.id == token_id)
            )
        ).first()
        if revoked is None or revoked[0] is not None:
            raise HTTPException(403, "this preview token was revoked", headers=_NO_STORE)
        title = await session.scalar(select(ContentItem.title).where(ContentItem.id == item.id))
        row = await full_row(session, item.id, Version.kind == "draft")
    if row is None:
        raise HTTPException(
            404, "this item has no draft any more (published?)", headers=_NO_STORE
        )
    content = json.dumps({"title": title, "draft": full(row)}).encode()
    etag = '"' + hashlib.blake2b(content, digest_size=12).hexdigest() + '"'
    headers = {
        # Browsers revalidate (max-age=0, ETag); shared caches keep it until purged.
        "Cache-Control": (
            f"public, max-age=0, s-maxage={state.settings.preview_edge_seconds}, "
            "stale-while-revalidate=30"
        ),
        "Surrogate-Key": f"{item.tag('draft')} preview-token:{token_id}",
        "ETag": etag,
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type="application/json", headers=headers)
