"""The content routes: list, get, draft, published, autosave, publish, compare.

`content_router(cached)` registers them; in optimised mode `cached` wraps each cacheable
GET in its `cache_policy` (see `policies`), in plain mode it leaves them as they are.
The reads take a `principal` they do not use: the dependency is what refuses a caller
without the `read` permission (the response cache's guard asks the same question).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from examples.versioning import reads, writes
from examples.versioning.auth import Publisher, Reader, Writer
from examples.versioning.items import ItemRef
from examples.versioning.runtime import runtime

__all__ = ["Cached", "content_router"]

Endpoint = Callable[..., Any]
Cached = Callable[[str, Endpoint], Endpoint]
"""Given a route's name and endpoint, the endpoint to register (wrapped or not)."""

Kind = Literal["draft", "autosave", "published", "archived"]
ContentType = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ContentId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]
Number = Annotated[int, Path(ge=1)]


async def addressed_item(
    request: Request, content_type: ContentType, content_id: ContentId
) -> ItemRef:
    """The item the route's prefix names, or 404: declared after the principal, so a
    caller without permission is refused before the address is looked up."""
    return await reads.resolve_item(runtime(request), content_type, content_id)


Item = Annotated[ItemRef, Depends(addressed_item)]


class AutosaveRequest(BaseModel):
    lock_version: int | None = Field(
        description="lock_version of the draft this edit started from; null to start a draft"
    )
    text: str
    body: dict[str, Any] = Field(default_factory=dict)


async def list_versions(
    request: Request,
    principal: Reader,
    item: Item,
    kind: Kind | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    """Version metadata, newest first; follow `next_cursor` for older ones."""
    state = runtime(request)
    return await reads.list_versions(state, item, kind=kind, limit=limit, cursor=cursor)


async def get_version(
    request: Request,
    number: Number,
    principal: Reader,
    item: Item,
) -> dict[str, Any]:
    state = runtime(request)
    return await reads.get_version(state, item, number)


async def get_draft(
    request: Request,
    principal: Reader,
    item: Item,
) -> dict[str, Any]:
    state = runtime(request)
    return await reads.get_current(state, item, "draft")


async def get_published(
    request: Request,
    principal: Reader,
    item: Item,
) -> dict[str, Any]:
    state = runtime(request)
    return await reads.get_current(state, item, "published")


async def autosave(
    payload: AutosaveRequest,
    request: Request,
    response: Response,
    content_type: ContentType,
    content_id: ContentId,
    principal: Writer,
) -> dict[str, Any]:
    """Save the draft: 201 when it starts a draft, 200 when it advances one, 409 on conflict."""
    state = runtime(request)
    limit = state.settings.max_text_bytes
    if len(payload.text.encode()) > limit:
        raise HTTPException(413, f"text is over the {limit}-byte limit")
    item = await reads.resolve_item(state, content_type, content_id)
    saved, created = await writes.autosave(
        state,
        item,
        author=principal.name,
        lock_version=payload.lock_version,
        body=payload.body,
        text=payload.text,
    )
    response.status_code = 201 if created else 200
    return saved


async def publish(
    request: Request,
    number: Number,
    _principal: Publisher,
    item: Item,
) -> dict[str, Any]:
    state = runtime(request)
    return await writes.publish(state, item, number)


async def compare(
    request: Request,
    principal: Reader,
    item: Item,
    old: Annotated[int, Query(alias="from", ge=1)],
    new: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    """Line and word diff from version `from` to version `to`."""
    state = runtime(request)
    return await reads.compare(state, item, old, new)


def content_router(cached: Cached) -> APIRouter:
    """The routes under `/contents/{content_type}/{content_id}`."""
    router = APIRouter(prefix="/contents/{content_type}/{content_id}")
    router.add_api_route("/versions", cached("versions", list_versions), methods=["GET"])
    router.add_api_route("/versions/{number}", cached("version", get_version), methods=["GET"])
    router.add_api_route("/draft", cached("draft", get_draft), methods=["GET"])
    router.add_api_route("/published", cached("published", get_published), methods=["GET"])
    router.add_api_route("/compare", cached("compare", compare), methods=["GET"])
    router.add_api_route("/draft", autosave, methods=["PUT"])
    router.add_api_route("/versions/{number}/publish", publish, methods=["POST"])
    return router
