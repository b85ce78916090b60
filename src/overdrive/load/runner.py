"""Run a load test end to end: engine process, live view, thresholds, baseline, reports.

This is the process the user started; it never imports Locust or gevent. The engine
runs in a child process (`overdrive.load.engine`), patched before anything else is
imported, and workers (`--workers N`) are further children. Every run is bounded: the
engine stops at the plan's end, and this side kills it past the plan plus a grace.

Exit codes: 0 every threshold held (and no baseline regression), 1 a threshold failed,
a baseline regression was found or the run was aborted on a breach, 2 usage error,
3 the run itself failed (target unreachable, open model below its rate, engine crash).
"""

from __future__ import annotations

import importlib.util
import json
import queue
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from overdrive.errors import ConfigurationError
from overdrive.load.baseline import (
    Tolerances,
    compare,
    load_baseline,
    plan_mismatch,
    save_baseline,
)
from overdrive.load.errors import EXIT_FAILED, EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE
from overdrive.load.png import require_png_support, write_png
from overdrive.load.processes import (
    child_environment,
    engine_command,
    free_port,
    read_lines,
    start_worker,
    stop_process,
)
from overdrive.load.progress import LiveProgress
from overdrive.load.report import write_html, write_json
from overdrive.load.server_metrics import scrape, server_view
from overdrive.load.stages import ArrivalRate, Stages
from overdrive.load.thresholds import Threshold, evaluate_thresholds, parse_threshold

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "EXIT_USAGE",
    "LoadOptions",
    "LoadResult",
    "run_load",
]

ENGINE_PACKAGES = ("locust", "hdrh", "yaml", "prometheus_client")


@dataclass
class LoadOptions:
    """Everything one run needs; the CLI builds it, and so can a test or a script.

    `default_thresholds` are the budgets that apply without any `--threshold` (the SLO
    file's); an explicit threshold on the same route and metric replaces its default.
    """

    scenario: Path
    plan: Stages | ArrivalRate
    host: str | None = None
    thresholds: Sequence[str] = ()
    default_thresholds: Sequence[str] = ()
    abort_on_breach: bool = False
    abort_grace: float = 10.0
    baseline: Path | None = None
    save_baseline: Path | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)
    report: Path | None = None
    json_report: Path | None = None
    png: Path | None = None
    workers: int = 0
    master: bool = False
    expect_workers: int = 1
    master_bind_host: str = "127.0.0.1"
    master_port: int = 5557
    user_classes: Sequence[str] = ()
    metrics_path: str | None = "/metrics"
    live: bool = True
    grace: float = 30.0

    def parsed_thresholds(self) -> list[Threshold]:
        explicit = [parse_threshold(text) for text in self.thresholds]
        overridden = {(t.route, t.metric) for t in explicit}
        defaults = [parse_threshold(text) for text in self.default_thresholds]
        return [t for t in defaults if (t.route, t.metric) not in overridden] + explicit


@dataclass
class LoadResult:
    exit_code: int
    document: dict[str, Any]
    message: str = ""


def run_load(options: LoadOptions, console: Console | None = None) -> LoadResult:
    """Run the plan against the target and judge it. Raises ConfigurationError on bad usage."""
    console = console or Console(stderr=True)
    thresholds = options.parsed_thresholds()
    missing = [name for name in ENGINE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"the load command needs {', '.join(missing)}: pip install 'overdrive[load]'"
        )
    if options.workers < 0 or options.expect_workers < 1:
        raise ConfigurationError("--workers must be at least 0 and --expect-workers at least 1")
    if options.png is not None:
        require_png_support()
    baseline = load_baseline(options.baseline) if options.baseline is not None else None
    if not options.scenario.is_file():
        raise ConfigurationError(f"no scenario file at {options.scenario}")

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="overdrive-load-") as workdir:
        outcome = _run_engine(options, thresholds, Path(workdir), console)
    if outcome.usage_error is not None:
        raise ConfigurationError(outcome.usage_error)

    summary = outcome.summary
    document: dict[str, Any] = {
        "version": 1,
        "started_at": started_at,
        "scenario": str(options.scenario),
        "target": outcome.host,
        "plan": options.plan.as_dict(),
        **summary,
    }
    results = evaluate_thresholds(thresholds, summary["total"], summary["routes"])
    document["thresholds"] = [result.as_dict() for result in results]
    document["server"] = (
        server_view(outcome.metrics_before, outcome.metrics_after)
        if outcome.metrics_before is not None and outcome.metrics_after is not None
        else None
    )
    movements = []
    if baseline is not None and not summary["run_error"]:
        movements = compare(baseline, document, options.tolerances)
        document["baseline"] = {
            "path": str(options.baseline),
            "movements": [movement.as_dict() for movement in movements],
            "regressed": any(movement.regressed for movement in movements),
            "warning": plan_mismatch(baseline, document),
        }
    else:
        document["baseline"] = None

    if summary["run_error"]:
        exit_code = EXIT_RUN_FAILED
    elif (
        summary["aborted_by"]
        or not all(r.passed for r in results)
        or any(m.regressed for m in movements)
    ):
        exit_code = EXIT_FAILED
    else:
        exit_code = EXIT_OK
    document["exit_code"] = exit_code
    document["verdict"] = {EXIT_OK: "passed", EXIT_FAILED: "failed"}.get(exit_code, "run failed")

    if options.save_baseline is not None and exit_code != EXIT_RUN_FAILED:
        save_baseline(document, options.save_baseline)
    if options.json_report is not None:
        write_json(document, options.json_report)
    if options.report is not None:
        write_html(document, options.report)
    if options.png is not None:
        write_png(document, options.png)
    return LoadResult(exit_code, document, summary["run_error"] or "")


@dataclass
class _EngineOutcome:
    summary: dict[str, Any]
    host: str | None = None
    usage_error: str | None = None
    metrics_before: dict[Any, float] | None = None
    metrics_after: dict[Any, float] | None = None


def _run_engine(
    options: LoadOptions, thresholds: list[Threshold], workdir: Path, console: Console
) -> _EngineOutcome:
    summary_path = workdir / "summary.json"
    planned = options.plan.total_duration
    workers = options.workers
    master_port = options.master_port if options.master else free_port()
    config: dict[str, Any] = {
        "scenario": str(options.scenario.resolve()),
        "host": options.host,
        "user_classes": list(options.user_classes) or None,
        "plan": options.plan.as_dict(),
        "thresholds": [t.expression for t in thresholds],
        "percentiles": sorted({p for t in thresholds if (p := t.percentile) is not None}),
        "abort_on_breach": options.abort_on_breach,
        "abort_grace": options.abort_grace,
        "summary_path": str(summary_path),
        "role": "master" if (workers or options.master) else "local",
        "master_port": master_port,
        "master_bind_host": options.master_bind_host if options.master else "127.0.0.1",
        "expect_workers": workers or options.expect_workers,
    }
    config_path = workdir / "engine.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    stderr_path = workdir / "engine.log"
    deadline = time.monotonic() + planned + options.grace + (60 if options.master else 15)
    outcome = _EngineOutcome(summary={})
    children: list[subprocess.Popen[bytes]] = []
    timed_out = False
    with open(stderr_path, "wb") as stderr:
        engine = subprocess.Popen(
            engine_command(config_path),
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=child_environment(),
        )
        try:
            worker_config = {
                "scenario": config["scenario"],
                "user_classes": config["user_classes"],
                "role": "worker",
                "master_host": "127.0.0.1",
                "master_port": master_port,
                "max_duration": planned + options.grace + 15,
            }
            for index in range(workers):
                path = workdir / f"worker-{index}.json"
                children.append(start_worker(worker_config, path, stderr))
            lines = read_lines(engine.stdout)
            with LiveProgress(
                console, planned, enabled=options.live and console.is_terminal
            ) as live:
                while True:
                    if time.monotonic() > deadline:
                        timed_out = True
                        engine.kill()
                        break
                    try:
                        line = lines.get(timeout=0.25)
                    except queue.Empty:
                        if engine.poll() is not None and lines.empty():
                            break
                        continue
                    if line is None:
                        break
                    message = _message(line)
                    if message is None:
                        continue
                    if message["event"] == "start":
                        outcome.host = message["host"]
                        outcome.metrics_before = _scrape(options, outcome.host)
                    else:
                        live.update(message)
            try:
                returncode = engine.wait(timeout=30)
            except subprocess.TimeoutExpired:
                timed_out = True
                engine.kill()
                returncode = engine.wait()
        finally:
            for process in [engine, *children]:
                stop_process(process)
    if outcome.host is not None and outcome.metrics_before is not None:
        outcome.metrics_after = _scrape(options, outcome.host)
    log = stderr_path.read_text(encoding="utf-8", errors="replace")
    if returncode == EXIT_USAGE:
        outcome.usage_error = log.strip().splitlines()[-1] if log.strip() else "bad scenario"
    elif returncode != 0 or not summary_path.is_file():
        reason = (
            "the load engine outlived the plan's time bound and was stopped"
            if timed_out
            else f"the load engine failed (exit {returncode}): {_tail(log)}"
        )
        outcome.summary = _empty_summary(reason)
    else:
        outcome.summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return outcome


def _message(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None  # a scenario that prints to stdout
    return message if isinstance(message, dict) and "event" in message else None


def _scrape(options: LoadOptions, host: str) -> dict[Any, float] | None:
    if not options.metrics_path:
        return None
    return scrape(host + options.metrics_path)


def _tail(log: str, lines: int = 5) -> str:
    return " | ".join(log.strip().splitlines()[-lines:])


def _empty_summary(run_error: str) -> dict[str, Any]:
    return {
        "duration": 0.0,
        "total": {"requests": 0.0, "failures": 0.0, "error_rate": 0.0, "rps": 0.0},
        "routes": {},
        "timeline": [],
        "errors": {},
        "route_overflow": False,
        "arrivals": None,
        "run_error": run_error,
        "aborted_by": None,
        "workers": 0,
    }
