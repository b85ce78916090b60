"""overdrive.http's public surface is its sorted `__all__`, and every name resolves."""

from __future__ import annotations

import overdrive.http


def test_all_is_sorted_and_resolves() -> None:
    """__all__ is sorted and each name is an attribute of the package."""
    assert overdrive.http.__all__ == sorted(overdrive.http.__all__)
    for name in overdrive.http.__all__:
        assert getattr(overdrive.http, name) is not None


def test_every_public_name_is_exported() -> None:
    """Nothing public is importable from overdrive.http without being in __all__."""
    public = {
        name for name, value in vars(overdrive.http).items()
        if not name.startswith("_") and str(getattr(value, "__module__", "")).startswith(
            "overdrive")
    }
    assert public <= set(overdrive.http.__all__)


def test_top_level_reexports_the_http_names() -> None:
    """The names a user writes come from `overdrive` directly."""
    import overdrive

    for name in ("Overdrive", "cache_policy", "VarnishPurger", "FastlyPurger",
                 "CloudflarePurger", "WebhookPurger", "ResponseCacheMiddleware",
                 "CompressionMiddleware", "RateLimitMiddleware", "ServerTimingMiddleware"):
        assert getattr(overdrive, name) is getattr(overdrive.http, name)
