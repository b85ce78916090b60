"""prometheus-client's multi-process mode without its known traps.

The traps, and what this module does about each:

- *Mode chosen at import time.* prometheus-client picks its value class when
  `prometheus_client.values` is first imported, so setting `PROMETHEUS_MULTIPROC_DIR`
  afterwards silently keeps single-process values. `activate()` sets the variable and
  rebinds the value class before any Overdrive metric exists.
- *Files of dead workers pile up.* Every worker that ever lived leaves `counter_<pid>.db`,
  `histogram_<pid>.db`...; `mark_process_dead` only deletes live gauges, so each restart
  makes every scrape read more files. `compact()` folds the counters, histograms and
  summing gauges of dead workers into one `*_archive.db` per type (totals stay monotonic)
  and deletes their files; it runs when a worker starts, periodically, and at shutdown.
- *Torn reads during compaction.* Moving a value from a dead file into the archive is not
  atomic for a reader; a scrape could see it twice or not at all, which Prometheus takes
  for a counter reset. Scrapes take a shared `flock`, compaction an exclusive one.
- *Fork order.* Nothing here opens a file before the worker process exists: metric values
  re-open their files after a fork (prometheus-client checks the pid on every write), and
  the archive is only written under the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client.values
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict as _MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector as _MultiProcessCollector

from overdrive.errors import ConfigurationError

__all__ = ["MultiprocessDirectory", "pid_alive"]

# prometheus-client leaves these untyped; bound as Any once rather than cast at each call.
MmapedDict: Any = _MmapedDict
MultiProcessCollector: Any = _MultiProcessCollector
get_value_class: Any = prometheus_client.values.get_value_class

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
ARCHIVE = "archive"
# Per file prefix: how a dead worker's value joins the archive (None: it is dropped).
_MERGE = {
    "counter": "sum",
    "histogram": "sum",
    "summary": "sum",
    "gauge_sum": "sum",
    "gauge_max": "max",
    "gauge_min": "min",
    "gauge_mostrecent": "mostrecent",
}


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (ours or anybody's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _split(path: str) -> tuple[str, str]:
    """`gauge_livesum_123.db` -> (`gauge_livesum`, `123`)."""
    stem = os.path.basename(path)[: -len(".db")]
    prefix, _, owner = stem.rpartition("_")
    return prefix, owner


class MultiprocessDirectory:
    """The shared folder where every worker's metric files live.

        directory = MultiprocessDirectory("/run/overdrive-metrics").activate()
        directory.compact()                 # at worker start: fold dead workers' files
        body = directory.exposition()       # /metrics of the whole deployment
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path / ".overdrive.lock"

    @classmethod
    def from_environment(cls) -> MultiprocessDirectory | None:
        value = os.environ.get(ENVIRONMENT_VARIABLE)
        return cls(value) if value else None

    def activate(self) -> MultiprocessDirectory:
        """Create the folder, export it, and make prometheus-client use per-process files."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(f"metrics directory {self.path}: {error}") from None
        if not os.access(self.path, os.W_OK):
            raise ConfigurationError(f"metrics directory {self.path} is not writable")
        current = os.environ.get(ENVIRONMENT_VARIABLE)
        if current and Path(current).resolve() != self.path.resolve():
            raise ConfigurationError(
                f"{ENVIRONMENT_VARIABLE} is {current}, not {self.path}: one folder per deployment")
        os.environ[ENVIRONMENT_VARIABLE] = str(self.path)
        if not getattr(prometheus_client.values.ValueClass, "_multiprocess", False):
            prometheus_client.values.ValueClass = get_value_class()
        return self

    @contextlib.contextmanager
    def locked(self, *, exclusive: bool) -> Iterator[None]:
        with open(self.lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def worker_files(self) -> list[str]:
        return sorted(glob.glob(str(self.path / "*.db")))

    def dead_owners(self) -> set[int]:
        owners = set()
        for path in self.worker_files():
            _, owner = _split(path)
            if owner.isdigit() and not pid_alive(int(owner)):
                owners.add(int(owner))
        return owners

    def compact(self, pids: set[int] | None = None) -> int:
        """Fold the files of dead workers (or of `pids`) into the archive; returns files removed."""
        removed = 0
        with self.locked(exclusive=True):
            owners = self.dead_owners() if pids is None else pids
            if not owners:
                return 0
            for path in self.worker_files():
                prefix, owner = _split(path)
                if not owner.isdigit() or int(owner) not in owners:
                    continue
                mode = _MERGE.get(prefix)
                if mode is not None:
                    self._merge_into_archive(path, prefix, mode)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                removed += 1
        return removed

    def _merge_into_archive(self, path: str, prefix: str, mode: str) -> None:
        archive = MmapedDict(str(self.path / f"{prefix}_{ARCHIVE}.db"))
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(path):
                if mode == "sum" and value == 0.0:
                    continue  # nothing to add; skipping keeps the archive from growing
                old_value, old_timestamp = archive.read_value(key)
                if mode == "sum":
                    archive.write_value(key, old_value + value, 0.0)
                elif mode == "max":
                    archive.write_value(key, max(old_value, value), 0.0)
                elif mode == "min":
                    first = old_value == 0.0 and old_timestamp == 0.0
                    archive.write_value(key, value if first else min(old_value, value), 0.0)
                elif timestamp >= old_timestamp:
                    archive.write_value(key, value, timestamp)
        finally:
            archive.close()

    def shutdown(self, pid: int | None = None) -> None:
        """At a worker's orderly exit: its files go to the archive now rather than later."""
        self.compact({pid if pid is not None else os.getpid()})

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.path))
        return registry

    def exposition(self) -> bytes:
        """The Prometheus text format of every worker, dead ones included via the archive."""
        with self.locked(exclusive=False):
            return generate_latest(self.registry())

