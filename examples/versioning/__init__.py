"""The reference application: a content-versioning API, plain or optimised by Overdrive.

from examples.versioning import create_app, seed, SeedSizes

app = create_app("sqlite+aiosqlite:///versions.db", optimised=True)
"""

from __future__ import annotations

from examples.versioning.app import create_app
from examples.versioning.compression import CompressionReport, compression_report
from examples.versioning.database import create_engine, create_schema, drop_schema
from examples.versioning.retention import RetentionJob, RetentionPolicy, RetentionRun
from examples.versioning.runtime import Runtime, Settings
from examples.versioning.seed import SeedReport, SeedSizes, seed

__all__ = [
    "CompressionReport",
    "RetentionJob",
    "RetentionPolicy",
    "RetentionRun",
    "Runtime",
    "SeedReport",
    "SeedSizes",
    "Settings",
    "compression_report",
    "create_app",
    "create_engine",
    "create_schema",
    "drop_schema",
    "seed",
]
