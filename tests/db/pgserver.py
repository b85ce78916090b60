"""A private PostgreSQL cluster on a free loopback port, for settings the shared one lacks.

`shared_preload_libraries` (pg_stat_statements) needs a server restart, which the shared
server must never get: a test that needs it starts its own cluster and removes it after.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from tests.servers import free_port


def _bindir() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    found = shutil.which("initdb") or (candidates[-1] if candidates else None)
    return os.path.dirname(found) if found else None


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user when root."""
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def available() -> bool:
    return _bindir() is not None and (os.geteuid() != 0 or shutil.which("runuser") is not None)


@contextlib.contextmanager
def private_postgres(*settings: str) -> Iterator[str]:
    """Start a throwaway cluster with `-c` settings; yield its URL (database postgres)."""
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries are not installed")
    workdir = tempfile.mkdtemp(prefix="od-pg-")
    data = os.path.join(workdir, "data")
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    try:
        subprocess.run(
            _as_postgres([f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust",
                          "-E", "UTF8", "--no-sync"]),
            check=True, capture_output=True, timeout=120,
        )
        options = " ".join(
            [f"-p {port}", f"-k {workdir}", "-c listen_addresses=127.0.0.1", "-c fsync=off",
             *(f"-c {setting}" for setting in settings)]
        )
        subprocess.run(
            _as_postgres([f"{bindir}/pg_ctl", "-D", data, "-o", options, "-w", "-t", "60",
                          "-l", os.path.join(workdir, "log"), "start"]),
            check=True, capture_output=True, timeout=120,
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
                capture_output=True, timeout=60,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
