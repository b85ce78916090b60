"""HMAC signing for the tokens the application hands out: page cursors and preview links.

A signed value can be held by a client but not forged or edited: anything that does not
verify is refused with a 4xx, never parsed further. One secret serves every purpose, each
under its own label, so a cursor can never pass for a preview token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

__all__ = ["BadSignatureError", "Signer"]

_SIGNATURE_BYTES = 16


class BadSignatureError(ValueError):
    """The value was tampered with, truncated, or signed for another purpose."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise BadSignatureError("not base64") from error


class Signer:
    """`dumps(purpose, payload)` → opaque string; `loads(purpose, string)` → payload.

    Without a secret (argument or `OVERDRIVE_SECRET_KEY`), a random per-process one is
    used: fine for one process, but several workers must share a configured secret.
    """

    def __init__(self, secret: str | bytes | None = None) -> None:
        secret = secret or os.environ.get("OVERDRIVE_SECRET_KEY") or secrets.token_bytes(32)
        self._key = secret.encode() if isinstance(secret, str) else secret

    def _mac(self, purpose: str, data: bytes) -> bytes:
        message = purpose.encode() + b"\x00" + data
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def subkey(self, purpose: str) -> bytes:
        """A key derived for one purpose, for signers that take a raw secret (cursors):
        what one purpose signed never verifies under another."""
        return hmac.new(self._key, b"subkey\x00" + purpose.encode(), hashlib.sha256).digest()

    def dumps(self, purpose: str, payload: Any) -> str:
        data = json.dumps(payload, separators=(",", ":")).encode()
        return _b64encode(data) + "." + _b64encode(self._mac(purpose, data))

    def loads(self, purpose: str, value: str) -> Any:
        head, dot, tail = value.partition(".")
        if not dot or not head or not tail:
            raise BadSignatureError("malformed")
        data, signature = _b64decode(head), _b64decode(tail)
        # Re-encoding must give back the exact text: no alternative spellings verify.
        if _b64encode(data) != head or _b64encode(signature) != tail:
            raise BadSignatureError("malformed")
        if not hmac.compare_digest(signature, self._mac(purpose, data)):
            raise BadSignatureError("signature mismatch")
        try:
            return json.loads(data)
        except ValueError as error:
            raise BadSignatureError("malformed payload") from error
