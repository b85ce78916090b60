"""The optimised application behind Overdrive's HTTP layer: hits before routing, writes
purging every tier and the edge, one guarded copy for every reader, and its own /metrics."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.examples.conftest import Deploy, Deployment
from tests.http.live import uvicorn_server, varnish, varnishd_binary
from tests.servers import service_required


class RecordingEdge:
    """A stand-in for Varnish on a local port: records each PURGE and its xkey header."""

    def __init__(self) -> None:
        self.purges: list[tuple[str, str]] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/"

    def purged_tags(self) -> set[str]:
        return {tag for _header, tags in self.purges for tag in tags.split()}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, *_ = head.decode("latin-1").split(" ", 1)
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if method == "PURGE" and name.lower() in ("xkey-purge", "xkey-softpurge"):
                        self.purges.append((name.lower(), value.strip()))
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def edge() -> AsyncIterator[RecordingEdge]:
    recording = RecordingEdge()
    recording.server = await asyncio.start_server(recording._serve, "127.0.0.1", 0)
    async with recording.server:
        yield recording


async def _flush_purges(deployment: Deployment) -> None:
    od = deployment.state.overdrive
    assert od is not None
    assert od.cdn is not None
    await od.cdn.flush()


async def test_a_repeated_read_is_a_hit_answered_before_routing(deployment: Deployment) -> None:
    """The second identical GET is answered by the response cache: X-Cache HIT, no query."""
    listing = f"{deployment.item()}/versions"
    first = await deployment.get(listing, "viewer", params={"limit": 5})
    second = await deployment.get(listing, "viewer", params={"limit": 5})
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.json() == first.json()
    assert 'desc="0 queries"' in second.headers["server-timing"]
    assert re.search(r'desc="[1-9]\d* queries"', first.headers["server-timing"])
    # Token-bound copies: browsers may keep theirs, shared caches and CDNs may not.
    assert second.headers["cache-control"].startswith("private")
    for name in ("overdrive-cache-control", "cdn-cache-control", "surrogate-control",
                 "cache-tag"):
        assert name not in second.headers
    for path in ("/versions/5", "/draft", "/published", "/compare?from=4&to=5"):
        await deployment.get(f"{deployment.item()}{path}", "viewer")
        again = await deployment.get(f"{deployment.item()}{path}", "viewer")
        assert again.status_code == 200, path
        assert again.headers["x-cache"] == "HIT", path


async def test_publish_makes_list_published_and_preview_miss_and_purges_the_edge(
    deploy: Deploy, edge: RecordingEdge
) -> None:
    """After a publish the next reads are MISSes showing it, and the edge got the tags."""
    deployment = await deploy(varnish_url=edge.url)
    item = deployment.item()
    address = item[len("/contents/") :]
    preview = (await deployment.client.post(f"{item}/previews", headers=deployment.auth())).json()
    reads = {
        "list": lambda: deployment.get(f"{item}/versions", "viewer", params={"limit": 3}),
        "published": lambda: deployment.get(f"{item}/published", "viewer"),
        "preview": lambda: deployment.client.get(preview["url"]),
    }
    before = {}
    for name, read in reads.items():
        await read()
        cached = await read()
        assert cached.headers["x-cache"] == "HIT", name
        before[name] = cached.json()
    draft = before["list"]["items"][0]
    assert draft["kind"] == "draft"
    published = await deployment.client.post(
        f"{item}/versions/{draft['number']}/publish", headers=deployment.auth("editor")
    )
    assert published.status_code == 200
    after = {name: await read() for name, read in reads.items()}
    assert after["list"].headers["x-cache"] == "MISS"
    assert after["list"].json()["items"][0]["kind"] == "published"
    assert after["published"].headers["x-cache"] == "MISS"
    assert after["published"].json()["number"] == draft["number"]
    assert after["preview"].status_code == 404  # the draft was published
    await _flush_purges(deployment)
    assert {f"versions:{address}", f"published:{address}", f"draft:{address}"} <= (
        edge.purged_tags()
    )
    # The preview is the one page a CDN may keep (no token needed): it names those tags.
    assert before["preview"]["draft"]["number"] == draft["number"]


async def test_revoking_a_preview_purges_it_everywhere(deploy: Deploy, edge: RecordingEdge) -> None:
    """A cached preview is a MISS (403) once revoked; the edge is told its tag."""
    deployment = await deploy(varnish_url=edge.url)
    preview = (
        await deployment.client.post(f"{deployment.item()}/previews", headers=deployment.auth())
    ).json()
    await deployment.client.get(preview["url"])
    assert (await deployment.client.get(preview["url"])).headers["x-cache"] == "HIT"
    revoked = await deployment.client.delete(
        f"/previews/{preview['id']}", headers=deployment.auth("writer")
    )
    assert revoked.status_code == 204
    response = await deployment.client.get(preview["url"])
    assert (response.status_code, response.headers["x-cache"]) == (403, "MISS")
    await _flush_purges(deployment)
    assert f"preview-token:{preview['id']}" in edge.purged_tags()


async def test_one_shared_copy_is_served_only_to_tokens_the_guard_admits(
    deployment: Deployment,
) -> None:
    """One stored copy for every reader: another user's token gets a HIT with the same
    body; no token or a bad one gets the app's 401; a withdrawn permission (403) or a
    revoked token (401) is refused on its next request while the copy serves the rest."""
    listing = f"{deployment.item()}/versions"
    first = await deployment.get(listing, "viewer")
    other = await deployment.get(listing, "writer")
    assert first.headers["x-cache"] == "MISS"
    assert (other.status_code, other.headers["x-cache"]) == (200, "HIT")
    assert other.content == first.content
    for headers in ({}, {"Authorization": "Bearer od_nope"}):
        refused = await deployment.client.get(listing, headers=headers)
        assert refused.status_code == 401
        assert "items" not in refused.json()

    withdrawn = await deployment.client.put(
        "/users/viewer/permissions", headers=deployment.auth(), json={"permissions": []}
    )
    assert withdrawn.status_code == 200
    forbidden = await deployment.get(listing, "viewer")
    assert forbidden.status_code == 403
    assert "items" not in forbidden.json()
    assert (await deployment.get(listing, "writer")).headers["x-cache"] == "HIT"

    token_id = await _token_id(deployment, "writer")
    revoked = await deployment.client.delete(f"/tokens/{token_id}", headers=deployment.auth())
    assert revoked.status_code == 204
    assert (await deployment.get(listing, "writer")).status_code == 401
    # The refusals were answered by the app and stored nothing over the shared copy.
    assert (await deployment.get(listing, "editor")).headers["x-cache"] == "HIT"
    od = deployment.state.overdrive
    assert od is not None
    assert od.middleware["ResponseCacheMiddleware"].counters["guard_refused"] >= 4


async def _token_id(deployment: Deployment, user: str) -> int:
    from sqlalchemy import select

    from examples.versioning.schema import ApiToken, User

    async with deployment.state.sessions() as session:
        found = await session.scalar(
            select(ApiToken.id).join(User, User.id == ApiToken.user_id).where(User.name == user)
        )
    assert found is not None
    return int(found)


def _metric(text: str, name: str) -> float:
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    ]
    assert values, f"{name} not exported"
    return sum(values)


async def test_metrics_expose_statements_cache_and_memory(deployment: Deployment) -> None:
    """/metrics counts the app's SQL statements, its cache lookups and its memory."""
    before = (await deployment.client.get("/metrics")).text
    for _ in range(3):
        await deployment.get(f"{deployment.item()}/versions/7", "viewer")
    after = await deployment.client.get("/metrics")
    assert after.status_code == 200
    statements = _metric(after.text, "overdrive_db_statements_total")
    assert statements > _metric(before, "overdrive_db_statements_total")
    assert _metric(after.text, 'overdrive_cache_requests_total{result="hit"') >= 2
    assert _metric(after.text, "overdrive_process_resident_memory_bytes") > 0
    # Hits never reach the routing, yet they are counted as requests.
    assert _metric(after.text, "overdrive_http_requests_total") >= 3


async def test_plain_mode_has_no_overdrive(deploy: Deploy) -> None:
    """The "before" of the demo: no response cache, no caching headers, no /metrics."""
    deployment = await deploy(optimised=False)
    listing = f"{deployment.item()}/versions"
    for _ in range(2):
        response = await deployment.get(listing, "viewer")
        assert response.status_code == 200
        assert "x-cache" not in response.headers
        assert "server-timing" not in response.headers
        assert "cache-control" not in response.headers
    assert deployment.state.overdrive is None
    assert (await deployment.client.get("/metrics")).status_code == 404


async def test_autosave_keeps_published_and_archived_listings_cached(
    deployment: Deployment,
) -> None:
    """An autosave drops the listings it changed (all, draft, autosave), no other filter's."""
    item = deployment.item()
    kinds = (None, "draft", "autosave", "published", "archived")

    async def listing(kind: str | None) -> str:
        params = {"limit": 3} if kind is None else {"limit": 3, "kind": kind}
        response = await deployment.get(f"{item}/versions", "viewer", params=params)
        assert response.status_code == 200, response.text
        return str(response.headers["x-cache"])

    for kind in kinds:
        await listing(kind)
        assert await listing(kind) == "HIT", kind
    draft = (await deployment.get(f"{item}/draft", "viewer")).json()
    saved = await deployment.client.put(
        f"{item}/draft",
        json={"lock_version": draft["lock_version"], "text": "edited", "body": {}},
        headers=deployment.auth("writer"),
    )
    assert saved.status_code == 200, saved.text
    after = {kind: await listing(kind) for kind in kinds}
    assert after == {
        None: "MISS",
        "draft": "MISS",
        "autosave": "MISS",
        "published": "HIT",
        "archived": "HIT",
    }


class _Late:
    """An ASGI app filled in after the server starts: Varnish needs the app's port, the
    app needs Varnish's URL."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.mark.slow
async def test_behind_real_varnish_publish_purges_the_preview_and_lists_stay_personal(
    deploy: Deploy,
) -> None:
    """Varnish keeps the public preview until a publish purges it; the token-bound list
    is never stored at the edge, so it is always the origin's (guarded) answer."""
    if varnishd_binary() is None:
        if service_required():
            pytest.fail("varnishd is not installed and CI=true: run scripts/system-packages")
        pytest.skip("varnishd is not installed (scripts/system-packages)")
    late = _Late()
    async with uvicorn_server(late) as origin_url:
        with varnish(int(origin_url.rsplit(":", 1)[1])) as edge_url:
            deployment = await deploy(varnish_url=edge_url)
            late.app = deployment.app
            item = deployment.item()
            async with httpx.AsyncClient(base_url=edge_url) as edge:
                preview = (await edge.post(f"{item}/previews", headers=deployment.auth())).json()
                first = await edge.get(preview["url"])
                second = await edge.get(preview["url"])
                listing = [
                    await edge.get(f"{item}/versions", headers=deployment.auth("viewer"))
                    for _ in range(2)
                ]
                draft = listing[0].json()["items"][0]["number"]
                published = await edge.post(
                    f"{item}/versions/{draft}/publish", headers=deployment.auth("editor")
                )
                await _flush_purges(deployment)
                after = await edge.get(preview["url"])
                listed = await edge.get(f"{item}/versions", headers=deployment.auth("viewer"))
    assert (first.status_code, first.headers["x-edge-cache"]) == (200, "MISS")
    assert second.headers["x-edge-cache"] == "HIT"
    assert [page.headers["x-edge-cache"] for page in listing] == ["MISS", "MISS"]
    assert listing[1].headers["x-cache"] == "HIT"  # Overdrive's own guarded copy
    assert published.status_code == 200
    assert after.status_code == 404
    assert after.headers["x-edge-cache"] == "MISS"
    assert listed.json()["items"][0]["kind"] == "published"
