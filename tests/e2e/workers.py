"""Uvicorn worker processes of the reference application, started as a deployment would.

Each worker is its own `uvicorn --factory examples.versioning.asgi:app_from_environment`
process on its own loopback port, configured only through OVERDRIVE_* variables: two
processes share nothing but Postgres, Redis and the secret, like `uvicorn --workers 2`,
while a test can still aim a request at one worker deliberately.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
FACTORY = "examples.versioning.asgi:app_from_environment"


@dataclass
class Worker:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_ready(worker: Worker, timeout: float = 60.0) -> None:
    """Ready once the app answers (401 to an anonymous /me: routes and auth are up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker on port {worker.port} exited:\n{worker.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{worker.url}/me", timeout=1.0).status_code == 401:
                return
        time.sleep(0.1)
    raise RuntimeError(f"worker on port {worker.port} did not start:\n{worker.output()}")


def _stop(worker: Worker) -> None:
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown: lifespan ends
        try:
            worker.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=10)


@contextlib.contextmanager
def uvicorn_workers(
    ports: list[int], environment: Mapping[str, str], logs: Path
) -> Iterator[list[Worker]]:
    """One uvicorn process per port, all with `environment`; stopped (SIGTERM) afterwards,
    and a traceback in any worker's log is then raised as an error."""
    python_path = os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env = {**os.environ, **environment, "PYTHONPATH": python_path}
    workers: list[Worker] = []
    try:
        for port in ports:
            log = logs / f"worker-{port}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "--factory", FACTORY,
                     "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                     "--no-access-log"],
                    cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
                )
            workers.append(Worker(port, process, log))
        for worker in workers:
            _wait_ready(worker)
        yield workers
    finally:
        for worker in workers:
            _stop(worker)
    # After a clean run only: an error inside a worker (a request's or a background task's)
    # is a failure even when every response the tests checked looked right.
    failed = [worker for worker in workers if "Traceback" in worker.output()]
    if failed:
        raise RuntimeError("\n".join(f"worker {w.port}:\n{w.output()}" for w in failed))
