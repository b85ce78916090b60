"""overdrive.load's public surface is exactly its sorted `__all__`."""

from __future__ import annotations

import overdrive.load


def test_all_is_sorted_and_resolves() -> None:
    """Every exported name exists and the list is sorted."""
    assert overdrive.load.__all__ == sorted(overdrive.load.__all__)
    for name in overdrive.load.__all__:
        assert getattr(overdrive.load, name) is not None


def test_every_public_name_is_exported() -> None:
    """No public class or function of the package is left out of `__all__`."""
    public = {
        name
        for name, value in vars(overdrive.load).items()
        if not name.startswith("_")
        and callable(value)
        and str(getattr(value, "__module__", "")).startswith("overdrive")
    }
    assert public == set(overdrive.load.__all__)


def test_importing_the_package_does_not_import_the_engine() -> None:
    """The CLI process is never monkey-patched: only the engine process imports Locust."""
    import subprocess
    import sys

    code = "import sys, overdrive.cli; print('locust' in sys.modules, 'gevent' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]
