"""An application built from environment variables, for servers that import a factory.

    OVERDRIVE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
    OVERDRIVE_REDIS_URL=redis://127.0.0.1:6379/0 OVERDRIVE_SECRET_KEY=... \\
    uvicorn --factory examples.versioning.asgi:app_from_environment --workers 2

Several workers must share `OVERDRIVE_SECRET_KEY` (cursors and preview links signed by
one worker are checked by another) and should find the tables already created (seed
first), since two workers creating them at once race.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fastapi import FastAPI

from examples.versioning.app import create_app
from examples.versioning.runtime import Settings

__all__ = ["app_from_environment"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///versioning.db"
_FALSE = {"0", "false", "no", "off"}


def app_from_environment(environ: Mapping[str, str] | None = None) -> FastAPI:
    """`create_app` configured by OVERDRIVE_DATABASE_URL, OVERDRIVE_REDIS_URL,
    OVERDRIVE_OPTIMISED (default on), OVERDRIVE_DB_SCHEMA, OVERDRIVE_SECRET_KEY and
    OVERDRIVE_VARNISH_URL (the Varnish that writes purge, optimised mode)."""
    environ = os.environ if environ is None else environ
    settings = Settings(
        secret_key=environ.get("OVERDRIVE_SECRET_KEY") or None,
        db_schema=environ.get("OVERDRIVE_DB_SCHEMA") or None,
        varnish_url=environ.get("OVERDRIVE_VARNISH_URL") or None,
    )
    return create_app(
        environ.get("OVERDRIVE_DATABASE_URL", DEFAULT_DATABASE_URL),
        redis_url=environ.get("OVERDRIVE_REDIS_URL") or None,
        optimised=environ.get("OVERDRIVE_OPTIMISED", "1").strip().lower() not in _FALSE,
        settings=settings,
    )
