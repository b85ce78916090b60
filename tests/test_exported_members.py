"""The public surface is exactly what `__all__` lists, sorted, and every name resolves."""

from __future__ import annotations

import overdrive


def test_all_is_sorted_and_resolves() -> None:
    assert overdrive.__all__ == sorted(overdrive.__all__)
    for name in overdrive.__all__:
        assert getattr(overdrive, name) is not None


def test_every_public_name_is_exported() -> None:
    public = {
        name
        for name, value in vars(overdrive).items()
        if not name.startswith("_")
        and not getattr(value, "__module__", "").startswith("builtins")
        and getattr(value, "__module__", None) is not None
        and str(getattr(value, "__module__", "")).startswith("overdrive")
    }
    assert public <= set(overdrive.__all__)
