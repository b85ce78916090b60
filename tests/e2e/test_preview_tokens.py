"""Preview links: tampered, forged, foreign, expired and revoked tokens are refused by
both workers, and a refusal is never marked cacheable."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from examples.versioning.signing import Signer
from tests.e2e.conftest import SECRET, Deployment, eventually

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    head = token.partition(".")[0]
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return claims


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


async def _preview(deployment: Deployment, client: httpx.AsyncClient, index: int) -> dict[str, str]:
    created = await client.post(
        f"{deployment.item(index)}/previews", headers=deployment.auth("writer")
    )
    assert created.status_code == 201, created.text
    preview: dict[str, str] = created.json()
    return preview


def _assert_refused(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.json()["detail"] == detail
    assert response.headers["cache-control"] == "no-store"


async def test_tampered_preview_tokens_are_refused_by_both_workers(
    deployment: Deployment, clients: tuple[httpx.AsyncClient, ...]
) -> None:
    preview = await _preview(deployment, clients[0], 3)
    token = preview["token"]
    head, _, signature = token.partition(".")
    claims = _claims(token)
    other_item = await _preview(deployment, clients[1], 1)
    cursor = (
        await clients[0].get(
            f"{deployment.item(3)}/versions", params={"limit": 1}, headers=deployment.auth()
        )
    ).json()["next_cursor"]
    assert cursor
    edited = {**_claims(other_item["token"]), "t": claims["t"]}
    forgeries = {
        "signature changed": f"{head}.{_flip(signature, 3)}",
        "claims changed, signature kept": (
            f"{_b64(json.dumps(edited, separators=(',', ':')).encode())}.{signature}"
        ),
        "signature of another item's token": f"{head}.{other_item['token'].partition('.')[2]}",
        "signed with another secret": Signer("not-the-secret").dumps("preview", claims),
        "a page cursor, signed for another purpose": cursor,
        "truncated": token[:-4],
        "no signature": head,
    }
    for client in clients:
        assert (await client.get(preview["url"])).status_code == 200  # the genuine one works
        for name, forged in forgeries.items():
            assert forged != token, name
            _assert_refused(await client.get(f"/preview/{forged}"), "invalid preview token")

    # Validly signed but past its expiry (made here with the deployment's shared secret).
    expired = Signer(SECRET).dumps("preview", {**claims, "e": int(time.time()) - 1})
    for client in clients:
        _assert_refused(await client.get(f"/preview/{expired}"), "this preview token has expired")


async def test_revoked_preview_token_is_refused_by_both_workers(
    deployment: Deployment, clients: tuple[httpx.AsyncClient, ...]
) -> None:
    preview = await _preview(deployment, clients[0], 3)
    for client in clients:  # both serve it, and cache it
        assert (await client.get(preview["url"])).status_code == 200
    revoked = await clients[1].delete(
        f"/previews/{preview['id']}", headers=deployment.auth("writer")
    )
    assert revoked.status_code == 204

    _assert_refused(await clients[1].get(preview["url"]), "this preview token was revoked")

    async def refused_by_the_other() -> None:
        _assert_refused(await clients[0].get(preview["url"]), "this preview token was revoked")

    await eventually(refused_by_the_other)
    # Another preview of the same item is unaffected by the revocation.
    fresh = await _preview(deployment, clients[1], 3)
    for client in clients:
        assert (await client.get(fresh["url"])).status_code == 200
