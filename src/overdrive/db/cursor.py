"""Opaque, signed pagination cursors.

A cursor is the sort key of a page's edge row plus a direction, JSON-encoded and signed
with HMAC-SHA256, so a client can hold it but not forge or edit it: a tampered, truncated
or foreign cursor is an `InvalidCursor` (400), never a 500 or a wrong page. The signing
secret comes from the `secret` argument, else `OVERDRIVE_SECRET_KEY`; without either a
random per-process key is used, so cursors then survive only as long as the process.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import hashlib
import hmac
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from overdrive.db.errors import InvalidCursor

__all__ = ["Cursor", "CursorSigner"]

Direction = Literal["next", "prev"]
_SIGNATURE_BYTES = 16
_PROCESS_KEY = secrets.token_bytes(32)


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime):
        return {"t": "dt", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"t": "d", "v": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"t": "dec", "v": str(value)}
    if isinstance(value, uuid.UUID):
        return {"t": "uuid", "v": str(value)}
    if isinstance(value, bytes):
        return {"t": "b", "v": base64.b64encode(value).decode()}
    raise TypeError(f"cannot put a {type(value).__name__} sort key in a cursor")


def _decode_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    kind, text = value.get("t"), value.get("v")
    if not isinstance(text, str):
        raise InvalidCursor("malformed cursor value")
    decoders: dict[str, Any] = {
        "dt": datetime.datetime.fromisoformat,
        "d": datetime.date.fromisoformat,
        "dec": decimal.Decimal,
        "uuid": uuid.UUID,
        "b": base64.b64decode,
    }
    decoder = decoders.get(str(kind))
    if decoder is None:
        raise InvalidCursor("malformed cursor value")
    try:
        return decoder(text)
    except (ValueError, decimal.InvalidOperation, binascii.Error) as error:
        raise InvalidCursor("malformed cursor value") from error


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position a page starts after (`next`) or before (`prev`): its edge row's keys."""

    values: tuple[Any, ...]
    direction: Direction = "next"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Strict decoding: only the canonical spelling of the bytes is accepted.

    The last base64 character carries unused bits; without this check, editing them would
    give a different-looking cursor that still verifies.
    """
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("non-canonical base64")
    return data


class CursorSigner:
    """Encodes cursors to signed strings and verifies them back.

    `scope` binds a cursor to one ordering (the sort columns' names), so a cursor issued
    for one listing is refused by another instead of paging it wrongly.
    """

    def __init__(self, secret: str | bytes | None = None) -> None:
        if secret is None:
            secret = os.environ.get("OVERDRIVE_SECRET_KEY") or _PROCESS_KEY
        self.key = secret.encode() if isinstance(secret, str) else secret

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self.key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]

    def encode(self, cursor: Cursor, scope: str) -> str:
        body = {
            "d": cursor.direction,
            "k": [_encode_value(value) for value in cursor.values],
            "s": scope,
        }
        payload = json.dumps(body, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, token: str, scope: str) -> Cursor:
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096:
            raise InvalidCursor("malformed cursor")
        payload_text, signature_text = token.split(".")
        try:
            payload = _unb64(payload_text)
            signature = _unb64(signature_text)
        except (ValueError, binascii.Error) as error:
            raise InvalidCursor("malformed cursor") from error
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor("cursor signature does not match")
        try:
            body = json.loads(payload)
        except ValueError as error:
            raise InvalidCursor("malformed cursor") from error
        if not isinstance(body, dict) or body.get("s") != scope:
            raise InvalidCursor("cursor belongs to another listing")
        direction, keys = body.get("d"), body.get("k")
        if direction not in ("next", "prev") or not isinstance(keys, list):
            raise InvalidCursor("malformed cursor")
        return Cursor(tuple(_decode_value(key) for key in keys), direction)
