"""Serve an app with uvicorn (1 worker) on one core, load it with wrk on another.

Shared by the HTTP benchmarks. Each contender gets a warm-up, then one measured wrk run
of 64 connections; figures are printed as measured, on a machine that may be noisy.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cores() -> tuple[str, str]:
    """Server on one core, wrk on another (the last two the process may use)."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return str(allowed[0]), str(allowed[0])
    return str(allowed[-2]), str(allowed[-1])


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", output)
    if rps is None or p50 is None or p99 is None:
        raise RuntimeError(f"could not read wrk output:\n{output}")
    total_errors = int(errors.group(1)) if errors else 0
    if socket_errors:
        total_errors += sum(int(group) for group in socket_errors.groups())
    return WrkResult(float(rps.group(1)), _ms(*p50.groups()), _ms(*p99.groups()), total_errors)


def measure(app: str, *, path: str = "/items", headers: dict[str, str] | None = None,
            duration: int = 10, connections: int = 64, expect: dict[str, str] | None = None,
            ) -> WrkResult:
    """Start `uvicorn benchmarks.http_apps:<app>`, check one response, run wrk on it."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run scripts/system-packages")
    server_core, client_core = _cores()
    port = _free_port()
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    server = subprocess.Popen(
        ["taskset", "-c", server_core, sys.executable, "-m", "uvicorn",
         f"benchmarks.http_apps:{app}", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=environment,
    )
    url = f"http://127.0.0.1:{port}{path}"
    try:
        for _ in range(300):
            try:
                check = httpx.get(url, headers=headers)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{app} did not start")
        check = httpx.get(url, headers=headers)  # second request: a cache hit
        for name, value in (expect or {}).items():
            if check.headers.get(name) != value:
                raise RuntimeError(f"{app}: expected {name}: {value}, got {check.headers}")
        header_args = [arg for name, value in (headers or {}).items()
                       for arg in ("-H", f"{name}: {value}")]
        wrk = ["taskset", "-c", client_core, "wrk", "-t1", f"-c{connections}", "--latency",
               *header_args]
        subprocess.run([*wrk, "-d2s", url], check=True, capture_output=True)  # warm-up
        output = subprocess.run([*wrk, f"-d{duration}s", url], check=True,
                                capture_output=True, text=True).stdout
        return parse_wrk(output)
    finally:
        server.terminate()
        server.wait(timeout=10)


@dataclass(frozen=True)
class Contender:
    name: str
    app: str
    headers: dict[str, str] | None = None
    expect: dict[str, str] | None = None


def compare(contenders: list[Contender], *, rounds: int, duration: int
            ) -> dict[str, list[WrkResult]]:
    """Alternate the contenders round by round, so a noisy neighbour hits them alike."""
    results: dict[str, list[WrkResult]] = {contender.name: [] for contender in contenders}
    for _ in range(rounds):
        for contender in contenders:
            results[contender.name].append(measure(
                contender.app, headers=contender.headers, expect=contender.expect,
                duration=duration))
    return results


def median(results: list[WrkResult]) -> WrkResult:
    """The round with the median requests/s (its latencies come with it)."""
    ordered = sorted(results, key=lambda result: result.requests_per_second)
    return ordered[len(ordered) // 2]


def best(results: list[WrkResult]) -> WrkResult:
    """The round with the most requests/s: the one a noisy neighbour disturbed least."""
    return max(results, key=lambda result: result.requests_per_second)


def print_table(title: str, results: dict[str, list[WrkResult]], verdict: str) -> None:
    table = Table(title=title)
    for column in ("contender", "round", "requests/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, rounds in results.items():
        for index, result in enumerate(rounds, start=1):
            table.add_row(name, str(index), f"{result.requests_per_second:,.0f}",
                          f"{result.p50_ms:.2f}", f"{result.p99_ms:.2f}", str(result.errors))
        for label, chosen in (("median", median(rounds)), ("best", best(rounds))):
            table.add_row(f"[bold]{name}[/bold]", label,
                          f"[bold]{chosen.requests_per_second:,.0f}[/bold]",
                          f"{chosen.p50_ms:.2f}", f"{chosen.p99_ms:.2f}", str(chosen.errors),
                          end_section=label == "best")
    console = Console()
    console.print(table)
    console.print(verdict)


def arguments(description: str | None) -> tuple[int, int]:
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    options = parser.parse_args()
    return options.rounds, options.duration


def share_verdicts(
    results: dict[str, list[WrkResult]], target: float, describe: str
) -> str:
    """The second contender's requests/s as a share of the first's, on median and best rounds.

    `describe` names the share, e.g. "Overdrive reaches {share} of the limit's requests/s".
    """
    lines = []
    for label, pick in (("median", median), ("best", best)):
        reference, measured = (pick(rounds) for rounds in results.values())
        share = measured.requests_per_second / reference.requests_per_second
        verdict = "MET" if share >= target else "NOT MET"
        lines.append(
            f"{label} rounds: {describe.format(share=f'{share:.0%}')} "
            f"(target >= {target:.0%}): {verdict}"
        )
    return "\n".join(lines)
