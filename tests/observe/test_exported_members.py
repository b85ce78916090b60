"""overdrive.observe's public surface is exactly its sorted `__all__`."""

from __future__ import annotations

import overdrive.observe


def test_all_is_sorted_and_resolves() -> None:
    """Every exported name exists and the list is sorted."""
    assert overdrive.observe.__all__ == sorted(overdrive.observe.__all__)
    for name in overdrive.observe.__all__:
        assert getattr(overdrive.observe, name) is not None
