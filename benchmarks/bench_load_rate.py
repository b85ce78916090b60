"""Claim: one `overdrive load` process drives a hello-world ASGI server at a known share of wrk.

wrk (C, event loop, no per-request Python) is the ceiling of what a load generator can
get out of this target on this machine; Locust-based tools spend Python per request.
This script serves a raw ASGI hello world (uvicorn, one worker) and measures, in one run:

- wrk, 1 thread, the same number of connections;
- Locust's own headless command, same users, no think time (the engine underneath);
- `overdrive load` closed model, the same number of users with no think time;

and prints the rates and their ratio to wrk. Locust and overdrive load are each one
process, as a user runs them; the difference between those two rows is our overhead
(histograms, live progress), the gap to wrk is the price of Python per request.

Run: python benchmarks/bench_load_rate.py [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BODY = b"Hello, world!"
LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def hello(self):
        self.client.get("/")
"""


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The target: raw ASGI, no framework, so the server is as cheap as it gets."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_load_rate:hello",
            "--app-dir",
            str(ROOT / "benchmarks"),
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("uvicorn did not start")


def run_wrk(url: str, connections: int, seconds: int) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latencies = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", output))
    return {"rps": rate, "p50": _ms(latencies["50"]), "p99": _ms(latencies["99"])}


def run_overdrive(url: str, users: int, seconds: int, workdir: Path) -> dict[str, float]:
    scenario = workdir / "hammer.py"
    scenario.write_text(LOCUSTFILE)
    summary = workdir / "summary.json"
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from overdrive.cli import main; main()",
            "load",
            str(scenario),
            "--host",
            url,
            "--users",
            str(users),
            "--duration",
            f"{seconds}s",
            "--json",
            str(summary),
            "--metrics-path",
            "",
            "--no-live",
        ],
        check=True,
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    total = json.loads(summary.read_text())["total"]
    return {"rps": total["rps"], "p50": total["p50"], "p99": total["p99"]}


def run_locust(url: str, users: int, seconds: int, workdir: Path) -> dict[str, float]:
    scenario = workdir / "hammer.py"
    scenario.write_text(LOCUSTFILE)
    prefix = workdir / "locust"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(scenario),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "-H",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "ERROR",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(f"{prefix}_stats.csv", newline="") as handle:
        aggregated = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    return {
        "rps": float(aggregated["Requests/s"]),
        "p50": float(aggregated["50%"]),
        "p99": float(aggregated["99%"]),
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per tool instead of 10 s")
    parser.add_argument("--connections", type=int, default=32)
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run scripts/system-packages")
    seconds = 3 if arguments.quick else 10
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(port)
    try:
        run_wrk(url + "/", arguments.connections, 1)  # warm the server up
        wrk = run_wrk(url + "/", arguments.connections, seconds)
        with tempfile.TemporaryDirectory() as workdir:
            locust = run_locust(url, arguments.connections, seconds, Path(workdir))
            ours = run_overdrive(url, arguments.connections, seconds, Path(workdir))
    finally:
        server.terminate()
        server.wait(timeout=10)

    table = Table(
        title=f"Request rate against a raw ASGI hello world (uvicorn, 1 worker), {seconds} s"
    )
    for column in ("load generator", "requests/s", "p50", "p99", "share of wrk"):
        table.add_column(column, justify="right" if column != "load generator" else "left")
    table.add_row(
        "wrk (the limit)",
        f"{wrk['rps']:,.0f}",
        f"{wrk['p50']:.2f} ms",
        f"{wrk['p99']:.2f} ms",
        "100%",
    )
    table.add_row(
        "locust --headless (1 process)",
        f"{locust['rps']:,.0f}",
        f"{locust['p50']:.2f} ms",
        f"{locust['p99']:.2f} ms",
        f"{locust['rps'] / wrk['rps']:.0%}",
    )
    table.add_row(
        "overdrive load (1 process)",
        f"{ours['rps']:,.0f}",
        f"{ours['p50']:.2f} ms",
        f"{ours['p99']:.2f} ms",
        f"{ours['rps'] / wrk['rps']:.0%}",
    )
    Console(width=110).print(table)
    print(f"cpus: {os.cpu_count()}, connections/users: {arguments.connections}")


if __name__ == "__main__":
    main()
