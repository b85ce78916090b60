"""API tokens with per-user permissions, cached and invalidated on change."""

from __future__ import annotations

from tests.examples.conftest import Deployment


async def test_missing_and_unknown_tokens_are_401(deployment: Deployment) -> None:
    """No token, a malformed header or an unknown token is 401 with WWW-Authenticate."""
    listing = f"{deployment.item()}/versions"
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"}):
        response = await deployment.client.get(listing, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"


async def test_permissions_are_per_user(deployment: Deployment) -> None:
    """A viewer may read but not write; a writer may not manage tokens."""
    read = await deployment.get(f"{deployment.item()}/draft", user="viewer")
    write = await deployment.client.put(
        f"{deployment.item()}/draft",
        headers=deployment.auth("viewer"),
        json={"lock_version": None, "text": "x"},
    )
    manage = await deployment.client.post("/users/viewer/tokens", headers=deployment.auth("writer"))
    assert read.status_code == 200
    assert write.status_code == 403
    assert "'write'" in write.json()["detail"]
    assert manage.status_code == 403


async def test_permission_change_reaches_a_cached_token(deployment: Deployment) -> None:
    """Granting and withdrawing a permission applies on the very next request."""
    me = await deployment.get("/me", user="viewer")
    assert me.json()["permissions"] == ["read"]
    again = await deployment.get("/me", user="viewer")
    assert again.json() == me.json()
    granted = await deployment.client.put(
        "/users/viewer/permissions",
        headers=deployment.auth(),
        json={"permissions": ["read", "write"]},
    )
    assert granted.status_code == 200
    assert (await deployment.get("/me", user="viewer")).json()["permissions"] == ["read", "write"]
    await deployment.client.put(
        "/users/viewer/permissions", headers=deployment.auth(), json={"permissions": []}
    )
    assert (await deployment.get("/me", user="viewer")).status_code == 403


async def test_revoked_token_is_refused_and_a_new_one_works(deployment: Deployment) -> None:
    """A revoked token is 401 at once (cached lookups included); a new token for the user works."""
    issued = await deployment.client.post("/users/viewer/tokens", headers=deployment.auth())
    assert issued.status_code == 201
    token = issued.json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert (await deployment.client.get("/me", headers=headers)).status_code == 200
    revoked = await deployment.client.delete(f"/tokens/{token['id']}", headers=deployment.auth())
    assert revoked.status_code == 204
    assert (await deployment.client.get("/me", headers=headers)).status_code == 401
    assert (await deployment.get("/me", user="viewer")).status_code == 200


async def test_admin_errors(deployment: Deployment) -> None:
    """Unknown users, unknown tokens and unknown permissions get 404/404/422."""
    admin = deployment.auth()
    unknown_user = await deployment.client.post("/users/nobody/tokens", headers=admin)
    unknown_token = await deployment.client.delete("/tokens/999999", headers=admin)
    bad_permission = await deployment.client.put(
        "/users/viewer/permissions", headers=admin, json={"permissions": ["root"]}
    )
    assert unknown_user.status_code == 404
    assert unknown_token.status_code == 404
    assert bad_permission.status_code == 422
    assert "root" in bad_permission.json()["detail"]


async def test_stats_report_cache_and_compression(deployment: Deployment) -> None:
    """The admin stats endpoint reports the archive's compression ratio and cache counters."""
    stats = (await deployment.get("/stats")).json()
    assert stats["optimised"] is True
    assert stats["compression"]["archived_versions"] == 12
    assert stats["compression"]["ratio"] > 1.5
    assert "l1_hits" in stats["cache"]


async def test_stats_report_how_the_response_cache_answered(deployment: Deployment) -> None:
    """`responses` counts hits and misses of the HTTP layer, what the demo's ratio needs."""
    for _ in range(3):
        await deployment.get(f"{deployment.item()}/published", "viewer")
    responses = (await deployment.get("/stats")).json()["responses"]
    assert responses["hit"] >= 2
    assert responses["miss"] >= 1
    assert responses["stored"] >= 1
