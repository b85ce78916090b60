"""Who evaluates alerts, and where everyone reads their state: one evaluator per deployment.

Every worker runs the same code; only the holder of the lease evaluates and notifies,
and it publishes the alert states on a board every worker's dashboard reads. Without
Redis the lease is an `flock` in the shared metrics folder (one evaluator per host), or
trivially this process when there is a single one; with Redis, `redis_coordination`
provides the same two roles for a deployment spread over hosts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any, Protocol

__all__ = ["AlertBoard", "FileBoard", "FileLease", "Lease", "MemoryBoard", "ProcessLease"]


class Lease(Protocol):
    async def hold(self) -> bool:
        """Acquire or renew; True while this process is the evaluator."""

    async def release(self) -> None: ...


class AlertBoard(Protocol):
    async def publish(self, alerts: list[dict[str, Any]]) -> None: ...

    async def read(self) -> list[dict[str, Any]] | None: ...


class ProcessLease:
    """A deployment of one process: it is always the evaluator."""

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class FileLease:
    """An exclusive `flock` on a file: the kernel releases it when the holder dies."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.handle: IO[bytes] | None = None

    async def hold(self) -> bool:
        if self.handle is not None:
            return True
        handle = open(self.path, "a+b")  # noqa: SIM115, ASYNC230 - local, held open
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.handle = handle
        return True

    async def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


class MemoryBoard:
    """The board of a single process."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] | None = None

    async def publish(self, alerts: list[dict[str, Any]]) -> None:
        self.alerts = alerts

    async def read(self) -> list[dict[str, Any]] | None:
        return self.alerts


class FileBoard:
    """A JSON file in the shared folder, replaced atomically by the evaluator."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def publish(self, alerts: list[dict[str, Any]]) -> None:
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(alerts))
        os.replace(temporary, self.path)

    async def read(self) -> list[dict[str, Any]] | None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            data = json.loads(self.path.read_text())
            if isinstance(data, list):
                return data
        return None
