"""Cost of the full observability stack on a trivial endpoint, with and without it.

Each app runs under uvicorn (one worker each), driven in alternating rounds by wrk
when installed (scripts/system-packages), else by a bounded Python loop. The headline is
the server's CPU time per request (psutil, user + system): on a shared machine
requests/s swing by tens of percent with other load, CPU per request much less. The
overhead is the median over rounds of each round's own ratio (a stack against bare
Starlette measured right beside it), so a load change between rounds cancels out; the
spread of those ratios is printed as well, and a second, identical bare server is
measured as a control: its "overhead" is the noise floor of this run (near 0 on a quiet
machine; when it is not, no figure of the run is worth more than it).
Requests/s are printed too, and the per-request cost with the ASGI app called in process.
The full stack: RED middleware, per-route sketches, process sampler, alert evaluator and
the cache-stats bridge. Beside it, two peers doing only RED metrics: starlette-exporter
and prometheus-fastapi-instrumentator. Target: overhead under 10 %.

    python benchmarks/bench_observe_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
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

def control():
    return bare()

def observed():
    from overdrive.observe import Observability
    class Cache:
        def stats(self):
            return {"l1_hits": 1, "l1_misses": 1}
    return Observability(bare(), cache=Cache())

def starlette_exporter():
    from starlette_exporter import PrometheusMiddleware
    app = bare()
    app.add_middleware(PrometheusMiddleware, group_paths=True)
    return app

def instrumentator():
    from prometheus_fastapi_instrumentator import Instrumentator
    app = bare()
    Instrumentator().instrument(app)
    return app
'''

STACKS = {
    "bare": "bare Starlette",
    "observed": "+ Overdrive Observability (full)",
    "control": "control: bare Starlette again",
    "starlette_exporter": "+ starlette-exporter (peer: RED only)",
    "instrumentator": "+ prometheus-fastapi-instrumentator (peer: RED only)",
}
# Each round runs the stacks in this order, the next round in reverse: observed and the
# control both sit right beside bare either way.
ROUND_ORDER = ["observed", "bare", "control", "starlette_exporter", "instrumentator"]


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


def drive(url: str, seconds: float) -> int:
    """Requests completed in `seconds`."""
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "-t1", "-c16", f"-d{seconds:g}s", url + "/items/42"],
                             capture_output=True, text=True, check=True).stdout
        match = re.search(r"(\d+) requests in", out)
        assert match, out
        return int(match.group(1))
    done, deadline = 0, time.monotonic() + seconds
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            client.get(url + "/items/42")
            done += 1
    return done


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def in_process(calls: int, rounds: int) -> tuple[float, float]:
    """Best µs per request calling the two ASGI apps directly: no server, no load generator."""
    module = importlib.import_module("benchapp")
    apps: dict[str, Any] = {"bare": module.bare(), "observed": module.observed()}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: object) -> None:
        return None

    async def measure(app: Any) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            scope = {"type": "http", "method": "GET", "path": "/items/42", "root_path": "",
                     "headers": [], "query_string": b"", "asgi": {"version": "3.0"}}
            await app(scope, receive, send)
        return (time.perf_counter() - started) / calls * 1e6

    async def run() -> tuple[float, float]:
        best = {"bare": float("inf"), "observed": float("inf")}
        for _ in range(rounds):
            for name, app in apps.items():
                best[name] = min(best[name], await measure(app))
        await apps["observed"].aclose()
        return best["bare"], best["observed"]

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds, rounds = (2.0, 4) if args.quick else (3.0, 8)
    folder = tempfile.mkdtemp(prefix="od-bench-")
    Path(folder, "benchapp.py").write_text(APP)
    sys.path[:0] = [folder, str(ROOT / "src")]
    bare_us, observed_us = in_process(5_000 if args.quick else 20_000, 5)
    rates: dict[str, list[float]] = {name: [] for name in STACKS}
    cpu_us: dict[str, list[float]] = {name: [] for name in STACKS}
    servers = {name: serve(name, folder) for name in STACKS}
    try:
        for _, url in servers.values():
            drive(url, 1.0)  # warm up
        # Order reversed every round: a load change on the shared machine hits all alike.
        for round_number in range(rounds):
            order = ROUND_ORDER if round_number % 2 == 0 else ROUND_ORDER[::-1]
            for name in order:
                process, url = servers[name]
                before = cpu_seconds(process.pid)
                done = drive(url, seconds)
                cpu_us[name].append((cpu_seconds(process.pid) - before) / done * 1e6)
                rates[name].append(done / seconds)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)

    cpu = {name: statistics.median(values) for name, values in cpu_us.items()}
    # Per round: each stack against the bare run of the same round, then the median.
    ratios = {name: [(mine / bare - 1) * 100 for mine, bare in zip(values, cpu_us["bare"],
                                                                   strict=True)]
              for name, values in cpu_us.items()}
    overhead = {name: statistics.median(values) for name, values in ratios.items()}
    best = {name: max(values) for name, values in rates.items()}
    driver = "wrk -t1 -c16" if shutil.which("wrk") else "python loop"
    console = Console(width=150)
    table = Table(title="Observability overhead: trivial endpoint, uvicorn, 1 worker "
                        f"({driver}, {rounds} rounds of {seconds:g}s, order alternating)")
    for column in ("stack", "server CPU µs/request (median)", "overhead (median of rounds)",
                   "rounds' spread", "target", "best requests/s", "median requests/s"):
        table.add_column(column, justify="right")
    for name, label in STACKS.items():
        table.add_row(label, f"{cpu[name]:.1f}",
                      "-" if name == "bare" else f"{overhead[name]:.1f} %",
                      "-" if name == "bare" else
                      f"{min(ratios[name]):.0f} .. {max(ratios[name]):.0f} %",
                      "< 10 %" if name == "observed" else "~ 0 %" if name == "control" else "-",
                      f"{best[name]:,.0f}", f"{statistics.median(rates[name]):,.0f}")
    console.print(table)
    cost = Table(title="Per-request cost, ASGI app called in process (best of 5 rounds)")
    for column in ("stack", "µs/request", "added", "added / bare server CPU per request"):
        cost.add_column(column, justify="right")
    added = observed_us - bare_us
    cost.add_row("bare Starlette", f"{bare_us:.1f}", "-", "-")
    cost.add_row("+ Observability (full)", f"{observed_us:.1f}", f"{added:.1f} µs",
                 f"{added / cpu['bare'] * 100:.1f} %")
    console.print(cost)
    sys.exit(0 if overhead["observed"] < 10 else 1)


if __name__ == "__main__":
    main()
