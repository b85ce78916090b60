"""Cursors round-trip their sort keys through a signed, opaque string."""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import uuid

import pytest

from overdrive.db import Cursor, InvalidCursor
from overdrive.db.cursor import CursorSigner


def test_sort_key_types_round_trip() -> None:
    """Datetimes, dates, decimals, UUIDs, bytes and plain JSON values come back equal."""
    values = (
        datetime.datetime(2026, 5, 1, 12, 30, tzinfo=datetime.UTC),
        datetime.date(2026, 5, 1),
        decimal.Decimal("12.50"),
        uuid.UUID(int=7),
        b"\x00\xff",
        42,
        "name",
        1.5,
    )
    signer = CursorSigner("secret")
    token = signer.encode(Cursor(values, "prev"), "scope")
    assert signer.decode(token, "scope") == Cursor(values, "prev")
    assert token.count(".") == 1


def test_unsupported_key_types_are_refused_when_encoding() -> None:
    """A sort key that cannot be put in a cursor is a TypeError at encode time."""
    with pytest.raises(TypeError):
        CursorSigner("s").encode(Cursor((object(),)), "scope")


def test_the_environment_secret_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """OVERDRIVE_SECRET_KEY signs cursors when no secret is passed, across signers."""
    monkeypatch.setenv("OVERDRIVE_SECRET_KEY", "from-env")
    token = CursorSigner().encode(Cursor((1,)), "s")
    assert CursorSigner("from-env").decode(token, "s") == Cursor((1,))
    with pytest.raises(InvalidCursor):
        CursorSigner("other").decode(token, "s")


def test_signed_but_malformed_values_are_invalid() -> None:
    """A correctly signed payload with a broken typed value is still an InvalidCursor."""
    signer = CursorSigner("s")
    payload = json.dumps({"d": "next", "k": [{"t": "dt", "v": "not a date"}], "s": "x"}).encode()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(signer._sign(payload)).rstrip(b"=").decode()
    with pytest.raises(InvalidCursor):
        signer.decode(f"{body}.{signature}", "x")


def test_every_single_character_edit_is_refused() -> None:
    """No one-character change of a cursor verifies, including base64's unused bits."""
    signer = CursorSigner("s")
    token = signer.encode(Cursor((12345, "abc")), "scope")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for position, original in enumerate(token):
        if original == ".":
            continue
        for replacement in alphabet:
            if replacement == original:
                continue
            forged = token[:position] + replacement + token[position + 1 :]
            with pytest.raises(InvalidCursor):
                signer.decode(forged, "scope")
