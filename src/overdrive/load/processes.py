"""The child processes of a load run: the engine, its workers, and how they are stopped.

Every child is started with `ENGINE_BOOT`, which applies gevent's monkey-patching before
anything else is imported, then runs `overdrive.load.engine` with a JSON configuration.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from overdrive.load.errors import EXIT_RUN_FAILED

__all__ = [
    "ENGINE_BOOT",
    "child_environment",
    "engine_command",
    "free_port",
    "read_lines",
    "run_worker",
    "start_worker",
    "stop_process",
]

# The engine's first act is gevent's patching; only then is our engine module imported.
ENGINE_BOOT = (
    "from gevent import monkey; monkey.patch_all(); import runpy, sys;"
    " runpy.run_module('overdrive.load.engine', run_name='__main__')"
)


def engine_command(config_path: Path) -> list[str]:
    return [sys.executable, "-c", ENGINE_BOOT, str(config_path)]


def start_worker(config: dict[str, Any], path: Path, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    """A worker on this machine (`--workers N`), configured through a JSON file at `path`."""
    path.write_text(json.dumps(config), encoding="utf-8")
    return subprocess.Popen(
        engine_command(path), stdout=subprocess.DEVNULL, stderr=stderr, env=child_environment()
    )


def run_worker(
    scenario: Path, master: str, user_classes: Sequence[str], max_duration: float
) -> int:
    """Serve as a worker of a master on another machine (`--worker HOST[:PORT]`)."""
    host, _, port = master.partition(":")
    config = {
        "scenario": str(scenario.resolve()),
        "user_classes": list(user_classes) or None,
        "role": "worker",
        "master_host": host,
        "master_port": int(port or 5557),
        "max_duration": max_duration,
    }
    with tempfile.TemporaryDirectory(prefix="overdrive-worker-") as workdir:
        path = Path(workdir) / "worker.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        process = subprocess.Popen(engine_command(path), env=child_environment())
        try:
            return process.wait(timeout=max_duration + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return EXIT_RUN_FAILED


def child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    # The engine imports this very package: make sure a source checkout resolves too.
    package_root = str(Path(__file__).resolve().parents[2])
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [package_root, environment.get("PYTHONPATH")])
    )
    return environment


def read_lines(stream: IO[bytes] | None) -> queue.Queue[bytes | None]:
    """Read a child's stdout on a thread, so the main loop can watch the clock."""
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:
        assert stream is not None
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
