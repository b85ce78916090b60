"""Real servers for the HTTP layer's integration tests: uvicorn in the test's event loop,
and a private varnishd on a free loopback port (never the system service)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tests.servers import free_port

VCL = Path(__file__).resolve().parents[2] / "scripts" / "varnish" / "overdrive.vcl"


@contextlib.asynccontextmanager
async def uvicorn_server(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        else:
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def varnishd_binary() -> str | None:
    return shutil.which("varnishd") or (
        "/usr/sbin/varnishd" if Path("/usr/sbin/varnishd").exists() else None)


@contextlib.contextmanager
def varnish(backend_port: int) -> Iterator[str]:
    """A private varnishd with the project's VCL in front of 127.0.0.1:backend_port."""
    binary = varnishd_binary()
    if binary is None:
        raise RuntimeError("varnishd is not installed: run scripts/system-packages")
    workdir = Path(tempfile.mkdtemp(prefix="od-varnish-"))
    vcl = workdir / "overdrive.vcl"
    vcl.write_text(VCL.read_text().replace("BACKEND_HOST", "127.0.0.1")
                   .replace("BACKEND_PORT", str(backend_port)))
    port = free_port()
    process = subprocess.Popen(
        [binary, "-F", "-j", "none", "-a", f"127.0.0.1:{port}", "-f", str(vcl),
         "-n", str(workdir / "state"), "-s", "malloc,32m", "-T", "none",
         "-p", "default_grace=0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"varnishd exited: {output}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.request("PURGE", f"http://127.0.0.1:{port}/",
                              headers={"xkey-purge": "probe"}, timeout=0.5)
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("varnishd did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)
