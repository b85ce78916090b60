"""The load engine: one process running Locust in library mode, streaming progress.

The `overdrive load` command starts this module in a child process whose first act is
gevent's monkey-patching (Locust requires it, and it must precede every other import),
so the command's own process — rich, typer, the report writer — is never patched.

Protocol with the parent: the configuration arrives as a JSON file; one JSON line per
interval goes to stdout (`{"event": "tick", ...}`); the final figures are written to
`summary_path`. Exit status 2 means the scenario or configuration was unusable (the
message is on stderr); every other outcome, including a failed run, exits 0 with the
reason in the summary's `run_error`.

Roles: `local` runs users in this process; `master` drives workers (Locust's
distributed mode) and merges their histograms, which they attach to Locust's own
worker reports; `worker` runs users for a master until told to quit.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import locust.runners  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import STATE_STOPPED, STATE_STOPPING, Runner  # noqa: E402
from locust.shape import LoadTestShape  # noqa: E402

from overdrive.load.arrival import (  # noqa: E402
    LAG_ATTRIBUTE,
    ArrivalCounts,
    OpenModel,
    rate_failure,
)
from overdrive.load.errors import ScenarioError  # noqa: E402
from overdrive.load.scenario import load_user_classes  # noqa: E402
from overdrive.load.stages import ArrivalRate, Stage, Stages  # noqa: E402
from overdrive.load.stats import LoadStats  # noqa: E402
from overdrive.load.targets import reachable, resolve_host  # noqa: E402
from overdrive.load.thresholds import evaluate_thresholds, parse_threshold  # noqa: E402

# Workers report every second, not every three, so the master's timeline stays smooth.
locust.runners.WORKER_REPORT_INTERVAL = 1.0
REPORT_KEY = "overdrive"
OPEN_MODEL_MESSAGE = "overdrive_open_model"
OPEN_MODEL_DONE_MESSAGE = "overdrive_open_model_done"
SPAWN_RATE = 10_000.0  # stages move users once a second; each step applies at once
WORKER_WAIT_SECONDS = 60.0


class _QuietSpawnRate(logging.Filter):
    """Stages step users once a second on purpose; Locust's warning about it is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "spawn rate is very high" not in record.getMessage()


logging.getLogger("locust.runners").addFilter(_QuietSpawnRate())


class StagesShape(LoadTestShape):
    """Locust shape that follows our `Stages`, re-read once a second by Locust."""

    def __init__(self, stages: Stages):
        super().__init__()
        self.stages = stages

    def tick(self) -> tuple[int, float] | None:
        users = self.stages.users_at(self.get_run_time())
        return None if users is None else (users, SPAWN_RATE)


class Engine:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.interval = float(config.get("interval", 1.0))
        self.stats = LoadStats()
        self.thresholds = [
            threshold
            for threshold in map(parse_threshold, config.get("thresholds", []))
            if threshold.metric != "rps"  # a cumulative rate is meaningless mid-ramp
        ]
        self.percentiles = [float(p) for p in config.get("percentiles", [])]
        self.aborted: str | None = None
        self.open_model: OpenModel | None = None
        self.arrivals: ArrivalCounts | None = None
        self.workers_done = 0
        self.workers_in_flight: dict[str, int] = {}
        user_classes = load_user_classes(Path(config["scenario"]), config.get("user_classes"))
        self.host: str | None = None
        if config.get("role", "local") != "worker":  # a worker takes its host from the master
            self.host = resolve_host(config.get("host"), (c.host for c in user_classes))
            for user_class in user_classes:
                user_class.host = self.host
        plan = config.get("plan") or {"kind": "stages", "stages": []}
        self.plan: Stages | ArrivalRate
        if plan["kind"] == "arrival_rate":
            self.plan = ArrivalRate.from_dict(plan)
        else:
            self.plan = Stages(tuple(Stage(s["duration"], s["target"]) for s in plan["stages"]))
        shape = StagesShape(self.plan) if isinstance(self.plan, Stages) else None
        self.environment = Environment(user_classes=user_classes, host=self.host, shape_class=shape)
        self.environment.events.request.add_listener(self.on_request)

    def on_request(
        self,
        name: str,
        response_time: float,
        exception: BaseException | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        lag = getattr(gevent.getcurrent(), LAG_ATTRIBUTE, 0.0)
        latency_us = int(response_time * 1000 + lag * 1_000_000)
        if exception is None:
            self.stats.record(name, latency_us)
            return
        transport = response is None or getattr(response, "status_code", 0) == 0
        self.stats.record(name, latency_us, error=_describe(exception), transport=transport)

    # -- roles ---------------------------------------------------------------------------

    def preflight(self) -> str | None:
        """Announce the target (the parent scrapes its metrics now) and check it answers."""
        assert self.host is not None
        emit({"event": "start", "host": self.host})
        problem = reachable(self.host)
        return None if problem is None else f"target unreachable: {problem}"

    def run_local(self) -> dict[str, Any]:
        runner = self.environment.create_local_runner()
        return self._drive(runner, workers=0)

    def run_master(self) -> dict[str, Any]:
        runner = self.environment.create_master_runner(
            self.config.get("master_bind_host", "127.0.0.1"), int(self.config["master_port"])
        )
        self.environment.events.worker_report.add_listener(self.on_worker_report)
        runner.register_message(OPEN_MODEL_DONE_MESSAGE, self.on_open_model_done)
        expected = int(self.config["expect_workers"])
        deadline = time.monotonic() + float(self.config.get("worker_wait", WORKER_WAIT_SECONDS))
        while runner.worker_count < expected and time.monotonic() < deadline:
            gevent.sleep(0.1)
        if runner.worker_count < expected:
            runner.quit()
            return self.summary(
                0.0, f"only {runner.worker_count} of {expected} workers connected in time"
            )
        return self._drive(runner, workers=expected)

    def run_worker(self) -> None:
        runner = self.environment.create_worker_runner(
            self.config["master_host"], int(self.config["master_port"])
        )
        self.environment.events.report_to_master.add_listener(self.on_report_to_master)
        runner.register_message(OPEN_MODEL_MESSAGE, self.on_open_model)
        assert runner.greenlet is not None
        runner.greenlet.join(timeout=float(self.config.get("max_duration", 3600)))
        runner.quit()

    def on_report_to_master(self, client_id: str, data: dict[str, Any]) -> None:
        data[REPORT_KEY] = self.stats.drain()
        data[REPORT_KEY]["in_flight"] = self.open_model.in_flight if self.open_model else 0

    def on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        report = data.get(REPORT_KEY)
        if report is not None:
            self.stats.merge_report(report)
            self.workers_in_flight[client_id] = int(report.get("in_flight", 0))

    # -- the open model across workers: each runs rate / N on its own timetable ----------

    def on_open_model(self, environment: Environment, msg: Any, **_: Any) -> None:
        """Worker side: run our share of the arrival rate, then report what happened."""
        plan = ArrivalRate.from_dict(msg.data["plan"])
        for user_class in environment.user_classes:
            user_class.host = msg.data["host"]
        runner = environment.runner
        assert runner is not None

        def share() -> None:
            self.open_model = OpenModel(environment, environment.user_classes, plan)
            counts = self.open_model.run(float(msg.data["drain"]))
            runner.send_message(OPEN_MODEL_DONE_MESSAGE, counts.as_dict())

        gevent.spawn(share)

    def on_open_model_done(self, environment: Environment, msg: Any, **_: Any) -> None:
        """Master side: add a worker's timetable counts."""
        assert self.arrivals is not None
        self.arrivals.add(ArrivalCounts.from_dict(msg.data))
        self.workers_done += 1

    def _remote_open_model(self, runner: Runner, plan: ArrivalRate, workers: int) -> None:
        drain = float(self.config.get("drain", 5.0))
        share = {
            "plan": plan.scaled(1 / workers, max(1, plan.max_in_flight // workers)).as_dict(),
            "host": self.host,
            "drain": drain,
        }
        runner.send_message(OPEN_MODEL_MESSAGE, share)
        deadline = time.monotonic() + plan.total_duration + drain + 15
        while self.workers_done < workers and time.monotonic() < deadline:
            gevent.sleep(0.1)

    # -- the run -------------------------------------------------------------------------

    def _drive(self, runner: Runner, workers: int) -> dict[str, Any]:
        bound = self.plan.total_duration + float(self.config.get("grace", 10.0))
        start = time.perf_counter()
        load: gevent.Greenlet | None = None
        if isinstance(self.plan, ArrivalRate) and workers:
            self.arrivals = ArrivalCounts()
            load = gevent.spawn(self._remote_open_model, runner, self.plan, workers)
        elif isinstance(self.plan, ArrivalRate):
            self.open_model = OpenModel(self.environment, self.environment.user_classes, self.plan)
            self.arrivals = self.open_model.counts
            load = gevent.spawn(self.open_model.run, float(self.config.get("drain", 5.0)))
        else:
            runner.start_shape()
        interval_start = start
        load_ended: float | None = None
        while True:
            gevent.sleep(max(0.0, interval_start + self.interval - time.perf_counter()))
            now = time.perf_counter()
            if load_ended is None and self._load_finished(runner, load, now - start):
                load_ended = now
                if load is None and not self.stats.current.requests:
                    break  # the interval after the plan's end carries no load: no empty point
            self._tick(interval_start - start, now - interval_start, self._users(runner), start)
            interval_start = now
            if load_ended is not None and (load is None or load.dead):
                break
            if self._breached(now - start):
                break
            if now - start > bound:
                break
        if load is not None:
            load.kill(block=True, timeout=2)
        if self.open_model is not None:  # an aborted run leaves iterations in flight
            self.open_model.pool.kill(block=True, timeout=2)
        # Stops the users; a master also collects its workers' final reports here.
        runner.quit()
        if self.stats.current.requests:
            self._tick(interval_start - start, time.perf_counter() - interval_start, 0, start)
        end = load_ended if load_ended is not None else time.perf_counter()
        # The plan's end, not the tick that noticed it: rates are per second of load.
        duration = min(end - start, self.plan.total_duration)
        if self.arrivals is not None and self.arrivals.issue_window:
            duration = self.arrivals.issue_window
        return self.summary(duration, self._run_error(), workers=workers)

    def _load_finished(self, runner: Runner, load: gevent.Greenlet | None, elapsed: float) -> bool:
        if load is not None:
            if load.dead or self.open_model is None:
                return bool(load.dead)
            plan = self.open_model.plan
            return self.open_model.counts.intended >= plan.expected_arrivals
        # Stages end on the clock: Locust's own stop can lag by a second on a master.
        return elapsed >= self.plan.total_duration or (
            runner.shape_greenlet is None and runner.state in (STATE_STOPPED, STATE_STOPPING)
        )

    def _users(self, runner: Runner) -> int:
        if self.open_model is not None:
            return self.open_model.in_flight
        if self.arrivals is not None:
            return sum(self.workers_in_flight.values())
        return runner.user_count

    def _tick(self, start: float, span: float, users: int, run_start: float) -> None:
        point = self.stats.close_interval(start, span, users)
        total = self.stats.total
        emit(
            {
                "event": "tick",
                "elapsed": round(time.perf_counter() - run_start, 3),
                "planned": self.plan.total_duration,
                "point": point,
                "requests": total.requests,
                "failures": total.failures,
                "p95": total.percentile_ms(95),
            }
        )

    def _breached(self, elapsed: float) -> bool:
        if not self.config.get("abort_on_breach") or not self.thresholds:
            return False
        if elapsed < float(self.config.get("abort_grace", 10.0)):
            return False
        overall = self.stats.total.figures(elapsed, self.percentiles)
        routes = {
            name: stats.figures(elapsed, self.percentiles)
            for name, stats in self.stats.routes.items()
        }
        for result in evaluate_thresholds(self.thresholds, overall, routes):
            if result.observed is not None and not result.passed:
                self.aborted = result.threshold.expression
                emit({"event": "breach", "expression": self.aborted, "observed": result.observed})
                return True
        return False

    def _run_error(self) -> str | None:
        total = self.stats.total
        # An aborted run stopped its own timetable: the breach is the verdict, not the rate.
        if self.arrivals is not None and isinstance(self.plan, ArrivalRate) and not self.aborted:
            failure = rate_failure(self.plan, self.arrivals)
            if failure is not None:
                return failure
        if total.requests == 0:
            if self.arrivals is not None and self.arrivals.task_errors:
                return "every iteration failed in the scenario's code: " + next(
                    iter(self.arrivals.task_errors)
                )
            return "the scenario made no requests"
        if total.transport_failures == total.requests:
            first = next(iter(self.stats.errors), "connection failed")
            return f"target unreachable: every request failed to connect ({first})"
        return None

    def summary(self, duration: float, run_error: str | None, workers: int = 0) -> dict[str, Any]:
        stats = self.stats
        arrivals = None
        if self.arrivals is not None and isinstance(self.plan, ArrivalRate):
            counts = self.arrivals
            arrivals = {
                "target_rate": self.plan.mean_rate,
                "intended": counts.intended,
                "issued": counts.issued,
                "dropped": counts.dropped,
                "achieved_rate": counts.issued / counts.issue_window
                if counts.issue_window
                else 0.0,
                "max_lag_ms": counts.max_lag * 1000,
                "task_errors": counts.task_errors,
            }
        return {
            "duration": duration,
            "total": stats.total.figures(duration, self.percentiles),
            "routes": {
                name: route.figures(duration, self.percentiles)
                for name, route in sorted(stats.routes.items())
            },
            "timeline": stats.timeline,
            "errors": stats.errors,
            "route_overflow": stats.overflowed,
            "arrivals": arrivals,
            "run_error": run_error,
            "aborted_by": self.aborted,
            "workers": workers,
        }


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _describe(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {exception}"[:200]


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    try:
        engine = Engine(config)
        role = config.get("role", "local")
        if role == "worker":
            engine.run_worker()
            return 0
        problem = engine.preflight()
        if problem is not None:
            summary = engine.summary(0.0, problem)
        else:
            summary = engine.run_master() if role == "master" else engine.run_local()
    except ScenarioError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    Path(config["summary_path"]).write_text(json.dumps(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
