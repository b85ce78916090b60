"""overdrive.db's public surface is exactly its sorted `__all__`, and every name resolves."""

from __future__ import annotations

import pytest

import overdrive.db

REQUIRED = {"Cursor", "InvalidCursor", "NPlusOneError", "Page", "instrument", "paginate"}


def test_all_is_sorted_complete_and_resolves() -> None:
    """`__all__` is sorted, names the issue's fixed names, and each one exists."""
    assert overdrive.db.__all__ == sorted(overdrive.db.__all__)
    assert set(overdrive.db.__all__) >= REQUIRED
    for name in overdrive.db.__all__:
        assert getattr(overdrive.db, name) is not None


def test_every_public_name_is_exported() -> None:
    """No public class or function is reachable without being listed."""
    public = {
        name
        for name, value in vars(overdrive.db).items()
        if not name.startswith("_")
        and str(getattr(value, "__module__", "")).startswith("overdrive")
    }
    assert public <= set(overdrive.db.__all__)


def test_errors_derive_from_overdrive_error() -> None:
    """Every db error is an OverdriveError; InvalidCursor answers 400."""
    from overdrive.errors import OverdriveError

    errors = (overdrive.db.InvalidCursor, overdrive.db.NPlusOneError, overdrive.db.AdvisorError)
    for error in errors:
        assert issubclass(error, OverdriveError)
    assert overdrive.db.InvalidCursor.status_code == 400


def test_every_export_has_a_home() -> None:
    """The lazy table and `__all__` name the same things; unknown names are AttributeError."""
    assert sorted(overdrive.db._HOMES) == overdrive.db.__all__
    with pytest.raises(AttributeError):
        _ = overdrive.db.not_a_name
