"""Users' API tokens and permissions; every change invalidates the cached lookups."""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel
from sqlalchemy import func, insert, select, update

from examples.versioning.auth import PERMISSIONS, Admin, Reader, issue_token
from examples.versioning.compression import compression_report
from examples.versioning.runtime import Runtime, runtime
from examples.versioning.schema import ApiToken, User, Version

__all__ = ["router"]

router = APIRouter()


class PermissionsRequest(BaseModel):
    permissions: list[str]


async def _user_id(state: Runtime, name: str) -> int:
    async with state.sessions() as session:
        found = await session.scalar(select(User.id).where(User.name == name))
    if found is None:
        raise HTTPException(404, f"no user {name!r}")
    return int(found)


@router.get("/me")
async def me(principal: Reader) -> dict[str, Any]:
    return {"user": principal.name, "permissions": sorted(principal.permissions)}


@router.post("/users/{name}/tokens", status_code=201)
async def create_token(name: str, request: Request, _principal: Admin) -> dict[str, Any]:
    """A new API token for the user; the secret is in this response only."""
    state = runtime(request)
    user_id = await _user_id(state, name)
    secret, token_hash, now = issue_token()
    async with state.sessions() as session, session.begin():
        token_id = await session.scalar(
            insert(ApiToken)
            .values(token_hash=token_hash, user_id=user_id, created_at=now)
            .returning(ApiToken.id)
        )
    return {"id": token_id, "user": name, "token": secret}


@router.put("/users/{name}/permissions")
async def set_permissions(
    name: str,
    payload: PermissionsRequest,
    request: Request,
    _principal: Admin,
) -> dict[str, Any]:
    unknown = set(payload.permissions) - PERMISSIONS
    if unknown:
        raise HTTPException(
            422, f"unknown permissions {sorted(unknown)}; use {sorted(PERMISSIONS)}"
        )
    state = runtime(request)
    user_id = await _user_id(state, name)
    granted = " ".join(sorted(set(payload.permissions)))
    async with state.sessions() as session, session.begin():
        await session.execute(update(User).where(User.id == user_id).values(permissions=granted))
    await state.caching.invalidate(f"user:{user_id}")
    return {"user": name, "permissions": sorted(set(payload.permissions))}


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: int, request: Request, _principal: Admin) -> Response:
    state = runtime(request)
    now = datetime.datetime.now(datetime.UTC)
    async with state.sessions() as session, session.begin():
        found = await session.scalar(select(ApiToken.id).where(ApiToken.id == token_id))
        if found is None:
            raise HTTPException(404, "no such API token")
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    await state.caching.invalidate(f"api-token:{token_id}")
    return Response(status_code=204)


def _response_cache_counters(state: Runtime) -> dict[str, int]:
    """How the HTTP layer's response cache answered (hit, stale, miss, bypass, stored...);
    empty in plain mode. Its lookups are also in `cache` (per tier), but only these say
    how many requests were answered without the application."""
    if state.overdrive is None:
        return {}
    response_cache = state.overdrive.middleware.get("ResponseCacheMiddleware")
    return dict(response_cache.counters) if response_cache is not None else {}


@router.get("/stats")
async def stats(request: Request, _principal: Admin) -> dict[str, Any]:
    """Cache and response-cache counters and the archive's compression, for the demo."""
    state = runtime(request)
    async with state.sessions() as session:
        report = await compression_report(session)
        total = await session.scalar(select(func.count(Version.id)))
    return {
        "optimised": state.optimised,
        "versions": int(total or 0),
        "cache": state.caching.stats(),
        "responses": _response_cache_counters(state),
        "compression": {
            "archived_versions": report.archived_versions,
            "raw_bytes": report.raw_bytes,
            "stored_bytes": report.stored_bytes,
            "ratio": round(report.ratio, 3),
        },
    }
