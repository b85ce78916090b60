"""The environment-driven factory servers import."""

from __future__ import annotations

import pytest

from examples.versioning.asgi import app_from_environment
from examples.versioning.caching import NoCaching, TieredCaching
from examples.versioning.signing import BadSignatureError
from overdrive import VarnishPurger


async def test_factory_reads_the_environment(tmp_path: object) -> None:
    """Database URL, mode, schema and secret come from OVERDRIVE_* variables."""
    plain = app_from_environment(
        {
            "OVERDRIVE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/a.db",
            "OVERDRIVE_OPTIMISED": "false",
            "OVERDRIVE_SECRET_KEY": "shared",
        }
    )
    optimised = app_from_environment(
        {
            "OVERDRIVE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/b.db",
            "OVERDRIVE_VARNISH_URL": "http://127.0.0.1:6081",
        }
    )
    try:
        assert isinstance(plain.state.versioning.caching, NoCaching)
        assert isinstance(optimised.state.versioning.caching, TieredCaching)
        assert plain.state.versioning.settings.secret_key == "shared"
        assert plain.state.versioning.settings.varnish_url is None
        assert plain.state.versioning.overdrive is None
        edge = optimised.state.versioning.overdrive.cdn
        assert isinstance(edge, VarnishPurger)
        assert edge.url == "http://127.0.0.1:6081"
        token = plain.state.versioning.signer.dumps("x", 1)
        assert plain.state.versioning.signer.loads("x", token) == 1
        with pytest.raises(BadSignatureError):  # no shared secret: a random one
            optimised.state.versioning.signer.loads("x", token)
    finally:
        await plain.state.versioning.close()
        await optimised.state.versioning.close()
