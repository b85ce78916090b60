"""One uvicorn process serving the reference application in one mode, on a free port.

The app runs in its own process, as it would in production, so the load generator and
the server do not share an interpreter, and the server's memory (RSS, via psutil) is
its own. The process is always stopped, even when the run fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psutil

from overdrive.demo.errors import DemoError
from overdrive.load.processes import free_port

__all__ = ["AppServer"]


class AppServer:
    """`with AppServer(...) as server:` starts uvicorn and waits until it answers."""

    def __init__(
        self,
        *,
        database_url: str,
        optimised: bool,
        redis_url: str | None,
        schema: str | None,
        namespace: str,
        log_path: Path,
        port: int = 0,
        startup_timeout: float = 60.0,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        root = str(Path.cwd())
        package_root = str(Path(__file__).resolve().parents[2])
        self.environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [root, package_root, os.environ.get("PYTHONPATH")])
            ),
            "OVERDRIVE_DATABASE_URL": database_url,
            "OVERDRIVE_OPTIMISED": "1" if optimised else "0",
            "OVERDRIVE_REDIS_URL": redis_url or "",
            "OVERDRIVE_DB_SCHEMA": schema or "",
            "OVERDRIVE_DEMO_NAMESPACE": namespace,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> AppServer:
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "overdrive.demo.served:counted_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.environment,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise DemoError(f"the application exited at start: {self._log_tail()}")
            try:
                self._get_json("/__demo/counters")
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise DemoError(f"the application did not answer within {self.startup_timeout:.0f} s")

    def answers(self, path: str) -> bool:
        """Whether `path` answers 200: the demo names only the pages the app really serves."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait(self, poll: float = 0.5) -> None:
        """Block while the app runs (until the caller's Ctrl-C); raises if the app exits."""
        assert self.process is not None
        while self.process.poll() is None:
            time.sleep(poll)
        raise DemoError(f"the application exited while served: {self._log_tail()}")

    def get_json(self, path: str, token: str | None = None) -> Any:
        """`path`'s JSON; a server that stopped answering is a DemoError with its log's end."""
        try:
            return self._get_json(path, token)
        except (urllib.error.URLError, OSError) as error:
            code = self.process.poll() if self.process is not None else None
            state = "still running" if code is None else f"exit code {code}"
            raise DemoError(
                f"the application stopped answering ({error}; {state}): {self._log_tail()}"
            ) from error

    def _get_json(self, path: str, token: str | None = None) -> Any:
        request = urllib.request.Request(self.url + path)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def rss_bytes(self) -> int:
        assert self.process is not None
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self) -> str:
        if self._log is not None:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace").strip()
        return " | ".join(text.splitlines()[-5:]) or "(no output)"
