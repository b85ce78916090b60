"""API tokens with per-user permissions, looked up through the cache.

Every request carries `Authorization: Bearer <token>`. The token's SHA-256 is looked up
once and cached (tags `user:{id}` and `api-token:{id}`), so a permission change or a
revocation takes effect on the next request in every process, without a database read
per request in between.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select

from examples.versioning.runtime import Runtime, runtime
from examples.versioning.schema import ApiToken, User
from examples.versioning.seed import hash_token
from overdrive.types import Scope

__all__ = [
    "PERMISSIONS",
    "Admin",
    "Principal",
    "Publisher",
    "Reader",
    "Writer",
    "issue_token",
    "permission_guard",
    "require",
]

PERMISSIONS = frozenset({"read", "write", "publish", "admin"})
_TOKEN_TTL = 300.0
_UNKNOWN_TTL = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    name: str
    permissions: frozenset[str]
    token_id: int
    """The API token this request came with."""


def _credential(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, if that is what it is."""
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


def _bearer(request: Request) -> str:
    credential = _credential(request.headers.get("authorization", ""))
    if credential is None:
        raise HTTPException(
            401,
            "missing API token: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credential


async def _lookup(state: Runtime, token_hash: str) -> dict[str, Any] | None:
    """Two cached steps: the hash names a token and its user (never changes), then the
    principal (permissions, revocation) cached under tags that writes invalidate."""

    async def load_ids() -> list[int] | None:
        async with state.sessions() as session:
            row = (
                await session.execute(
                    select(ApiToken.id, ApiToken.user_id).where(ApiToken.token_hash == token_hash)
                )
            ).first()
        return None if row is None else [int(row[0]), int(row[1])]

    ids: list[int] | None = await state.caching.get_or_set(
        f"api-token:{token_hash}", load_ids, ttl=_UNKNOWN_TTL
    )
    if ids is None:
        return None
    token_id, user_id = ids

    async def load_principal() -> dict[str, Any] | None:
        async with state.sessions() as session:
            row = (
                await session.execute(
                    select(User.name, User.permissions)
                    .join(ApiToken, ApiToken.user_id == User.id)
                    .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                )
            ).first()
        if row is None:
            return None
        return {"user_id": user_id, "token_id": token_id, "name": row[0], "permissions": row[1]}

    principal: dict[str, Any] | None = await state.caching.get_or_set(
        f"principal:{token_id}",
        load_principal,
        ttl=_TOKEN_TTL,
        tags=(f"user:{user_id}", f"api-token:{token_id}"),
    )
    return principal


def require(permission: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the caller's principal, if it holds `permission` (else 401/403)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    async def dependency(request: Request) -> Principal:
        state = runtime(request)
        found = await _lookup(state, hash_token(_bearer(request)))
        if found is None:
            raise HTTPException(
                401, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"}
            )
        granted = frozenset(found["permissions"].split())
        if permission not in granted:
            raise HTTPException(403, f"this token's user lacks the {permission!r} permission")
        return Principal(found["user_id"], found["name"], granted, found["token_id"])

    return dependency


def permission_guard(
    state: Runtime, permission: str
) -> Callable[[Scope, Mapping[str, Any]], Awaitable[bool]]:
    """The response cache's check before it serves a shared copy: does this request's
    token grant `permission`? The same answer `require(permission)` gives, from the same
    cached lookup, so a revoked token or a changed permission (which invalidate that
    lookup's tags) is refused on its next request. Permissions here belong to the user,
    not to an item, so the content address in `path_params` changes nothing; an item the
    route would not find is never stored (404 is not a 2xx)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    async def guard(scope: Scope, path_params: Mapping[str, Any]) -> bool:
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                if header:
                    return False  # two credentials: the application would read one
                header = value
        credential = _credential(header.decode("latin-1"))
        if credential is None:
            return False
        found = await _lookup(state, hash_token(credential))
        return found is not None and permission in found["permissions"].split()

    return guard


Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Publisher = Annotated[Principal, Depends(require("publish"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def issue_token() -> tuple[str, str, datetime.datetime]:
    """A new secret, its stored hash, and the creation time."""
    secret = "od_" + secrets.token_urlsafe(24)
    return secret, hash_token(secret), datetime.datetime.now(datetime.UTC)
