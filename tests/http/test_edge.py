"""Tags as CDNs carry them, within their limits."""

from __future__ import annotations

from overdrive.http.edge import TAG_LENGTH_LIMIT, edge_tag, edge_tag_headers


def test_safe_tags_pass_unchanged() -> None:
    """An ASCII tag without separators is sent as written."""
    assert edge_tag("board:main") == "board:main"


def test_unsafe_or_long_tags_are_hashed_stably() -> None:
    """Spaces, commas, non-ASCII or over-long tags become a stable hash."""
    for tag in ("board:my board", "a,b", "tablé", "x" * (TAG_LENGTH_LIMIT + 1)):
        hashed = edge_tag(tag)
        assert hashed.startswith("odh-")
        assert hashed == edge_tag(tag)
        assert " " not in hashed
        assert "," not in hashed


def test_headers_use_each_cdns_separator() -> None:
    """Surrogate-Key is space-separated, Cache-Tag comma-separated, duplicates dropped."""
    headers = edge_tag_headers(["a", "b", "a"])
    assert headers.surrogate_key == "a b"
    assert headers.cache_tag == "a,b"
    assert headers.complete


def test_overflow_is_reported() -> None:
    """Tags past the header limit are dropped and the result marked incomplete."""
    headers = edge_tag_headers([f"tag{i}" for i in range(100)], surrogate_key_limit=50)
    assert len(headers.surrogate_key) <= 50
    assert not headers.complete
