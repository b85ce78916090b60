"""Requests/s of a trivial endpoint with and without the full observability stack.

Both apps run under uvicorn (one worker each, same run, alternating rounds) and are
driven by wrk when installed (scripts/system-packages), else by a bounded Python loop.
The full stack: RED middleware, per-route sketches, process sampler, alert evaluator
and the cache/insight bridge. Target: overhead under 10 %.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
APP = '''
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def ping(request):
    return PlainTextResponse("pong")

def bare():
    return Starlette(routes=[Route("/items/{item_id}", ping)])

def observed():
    from overdrive.observe import Observability
    class Cache:
        def stats(self):
            return {"l1": {"hits": 1, "misses": 1}}
    return Observability(bare(), cache=Cache())
'''


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(factory: str, folder: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{folder}:{ROOT / 'src'}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", f"benchapp:{factory}", "--port", str(port),
         "--log-level", "warning", "--no-access-log"], env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(url + "/items/1", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def drive(url: str, seconds: float) -> float:
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "-t1", "-c16", f"-d{seconds:g}s", url + "/items/42"],
                             capture_output=True, text=True, check=True).stdout
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        assert match, out
        return float(match.group(1))
    done, deadline = 0, time.monotonic() + seconds
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            client.get(url + "/items/42")
            done += 1
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds, rounds = (2.0, 4) if args.quick else (3.0, 8)
    folder = tempfile.mkdtemp(prefix="od-bench-")
    Path(folder, "benchapp.py").write_text(APP)
    results: dict[str, list[float]] = {"bare": [], "observed": []}
    servers = {name: serve(name, folder) for name in results}
    try:
        for url in (u for _, u in servers.values()):
            drive(url, 1.0)  # warm up
        # ABBA order: a load change on the shared machine hits both stacks alike.
        for round_number in range(rounds):
            order = ("bare", "observed") if round_number % 2 == 0 else ("observed", "bare")
            for name in order:
                results[name].append(drive(servers[name][1], seconds))
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
    bare, observed = (max(results[n]) for n in ("bare", "observed"))
    best_overhead = (bare - observed) / bare * 100
    paired = statistics.median(
        (b - o) / b * 100 for b, o in zip(results["bare"], results["observed"], strict=True))
    driver = "wrk -t1 -c16" if shutil.which("wrk") else "python loop"
    table = Table(title="Observability overhead: trivial endpoint, uvicorn, 1 worker "
                        f"({driver}, {rounds} rounds of {seconds:g}s each, ABBA order)")
    for column in ("stack", "best requests/s", "median requests/s", "overhead", "target"):
        table.add_column(column, justify="right")
    table.add_row("bare Starlette", f"{bare:,.0f}", f"{statistics.median(results['bare']):,.0f}",
                  "-", "-")
    table.add_row("+ Observability (full)", f"{observed:,.0f}",
                  f"{statistics.median(results['observed']):,.0f}",
                  f"{best_overhead:.1f} % (best vs best)", "< 10 %")
    table.add_row("", "", "", f"{paired:.1f} % (median of paired rounds)", "< 10 %")
    Console(width=140).print(table)
    overhead = paired  # the paired median is the figure load drift on a shared host spares
    sys.exit(0 if overhead < 10 else 1)


if __name__ == "__main__":
    main()
