"""Preview links: signed, revocable, cached with edge headers, purged on change."""

from __future__ import annotations

import datetime

from examples.versioning.signing import Signer
from tests.examples.conftest import Deploy, Deployment


async def _create(deployment: Deployment, user: str = "writer") -> dict[str, str]:
    response = await deployment.client.post(
        f"{deployment.item()}/previews", headers=deployment.auth(user)
    )
    assert response.status_code == 201
    created: dict[str, str] = response.json()
    return created


async def test_preview_shows_the_draft_with_edge_headers(deployment: Deployment) -> None:
    """The preview needs no API token and tells shared caches how to keep and purge it."""
    preview = await _create(deployment)
    response = await deployment.client.get(preview["url"])
    assert response.status_code == 200
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    assert response.json()["draft"]["text"] == draft["text"]
    cache_control = response.headers["cache-control"]
    assert "public" in cache_control
    assert "s-maxage=300" in cache_control
    assert "max-age=0" in cache_control
    assert response.headers["surrogate-key"] == (
        f"draft:{deployment.item()[len('/contents/'):]} preview-token:{preview['id']}"
    )
    revalidated = await deployment.client.get(
        preview["url"], headers={"If-None-Match": response.headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert revalidated.content == b""


async def test_preview_follows_autosaves(deployment: Deployment) -> None:
    """A cached preview is purged by an autosave and shows the new draft."""
    preview = await _create(deployment)
    first = (await deployment.client.get(preview["url"])).json()
    lock_version = first["draft"]["lock_version"]
    saved = await deployment.client.put(
        f"{deployment.item()}/draft",
        headers=deployment.auth("writer"),
        json={"lock_version": lock_version, "text": "Reviewed text."},
    )
    assert saved.status_code == 200
    second = (await deployment.client.get(preview["url"])).json()
    assert second["draft"]["text"] == "Reviewed text."


async def test_tampered_and_forged_preview_tokens_are_refused(deployment: Deployment) -> None:
    """Edited payloads, edited signatures, garbage and a token signed elsewhere get 403."""
    preview = await _create(deployment)
    token = preview["token"]
    head, _, signature = token.partition(".")
    flipped = "A" if signature[0] != "A" else "B"
    candidates = [
        head[:-1] + ("A" if head[-1] != "A" else "B") + "." + signature,
        head + "." + flipped + signature[1:],
        "garbage",
        token + "x",
    ]
    for candidate in candidates:
        response = await deployment.client.get(f"/preview/{candidate}")
        assert response.status_code == 403, candidate
        assert response.json()["detail"] == "invalid preview token"
        assert response.headers["cache-control"] == "no-store"


async def test_token_signed_with_another_secret_is_refused(deploy: Deploy) -> None:
    """A preview token from a deployment with another secret does not verify."""
    deployment = await deploy(secret_key="the-deployment-secret")
    good = await _create(deployment)
    assert (await deployment.client.get(good["url"])).status_code == 200
    forged = Signer("a-guessed-secret").dumps("preview", {"t": good["id"], "i": 1, "e": 4102444800})
    assert (await deployment.client.get(f"/preview/{forged}")).status_code == 403


async def test_revoked_preview_is_refused_even_when_cached(deployment: Deployment) -> None:
    """Revoking purges the cached preview: the next request is 403."""
    preview = await _create(deployment)
    assert (await deployment.client.get(preview["url"])).status_code == 200
    assert (await deployment.client.get(preview["url"])).status_code == 200
    revoked = await deployment.client.delete(
        f"/previews/{preview['id']}", headers=deployment.auth("writer")
    )
    assert revoked.status_code == 204
    response = await deployment.client.get(preview["url"])
    assert response.status_code == 403
    assert "revoked" in response.json()["detail"]
    other = await _create(deployment)
    assert (await deployment.client.get(other["url"])).status_code == 200


async def test_expired_preview_is_refused(deploy: Deploy) -> None:
    """A token past its lifetime is refused."""
    deployment = await deploy(preview_lifetime=datetime.timedelta(seconds=-1))
    preview = await _create(deployment)
    response = await deployment.client.get(preview["url"])
    assert response.status_code == 403
    assert "expired" in response.json()["detail"]


async def test_preview_errors(deployment: Deployment) -> None:
    """Revoking an unknown token is 404; previewing an item without a draft is 404."""
    unknown = await deployment.client.delete("/previews/nope", headers=deployment.auth())
    assert unknown.status_code == 404
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    await deployment.client.post(
        f"{deployment.item()}/versions/{draft['number']}/publish", headers=deployment.auth()
    )
    no_draft = await deployment.client.post(
        f"{deployment.item()}/previews", headers=deployment.auth()
    )
    assert no_draft.status_code == 404
    viewer = await deployment.client.post(
        f"{deployment.item(1)}/previews", headers=deployment.auth("viewer")
    )
    assert viewer.status_code == 403
