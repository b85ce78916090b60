"""Real servers for tests that must kill, pause or reconfigure one.

The shared Redis and PostgreSQL are never touched by these: each helper starts a
private server on a free loopback port and removes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A free loopback port whose +10000 twin is free too (Redis Cluster's bus port)."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 55000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free loopback port pair found")


def service_required() -> bool:
    """Under CI a missing service is a failure, elsewhere it is a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass
class RedisServer:
    """A private redis-server on a loopback port that a test may kill and restart."""

    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="od-redis-")))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    client.close()
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_server(*extra_args: str) -> Iterator[RedisServer]:
    server = RedisServer(extra_args=extra_args)
    server.start()
    try:
        yield server
    finally:
        server.close()


@dataclass
class RedisCluster:
    """A private 3-master Redis Cluster on loopback ports, as users run when one is not enough."""

    servers: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.servers[0].url

    def start(self, masters: int = 3) -> None:
        for _ in range(masters):
            server = RedisServer()
            server.extra_args = (
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(server.workdir / "nodes.conf"),
                "--cluster-node-timeout",
                "2000",
            )
            server.start()
            self.servers.append(server)
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed")
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{s.port}" for s in self.servers),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = []
            for server in self.servers:
                client = redis.Redis(port=server.port)
                info = client.execute_command("CLUSTER", "INFO")
                client.close()
                text = info.decode() if isinstance(info, bytes) else str(info)
                states.append("cluster_state:ok" in text)
            if all(states):
                return
            time.sleep(0.1)
        raise RuntimeError("the test cluster did not reach cluster_state:ok")

    def close(self) -> None:
        for server in self.servers:
            server.close()
