"""`overdrive load`: a Locust scenario against a target, judged by k6-style thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from overdrive.errors import ConfigurationError
from overdrive.load.baseline import Tolerances
from overdrive.load.errors import EXIT_RUN_FAILED, EXIT_USAGE
from overdrive.load.processes import run_worker
from overdrive.load.report import generator_lag_notice
from overdrive.load.runner import LoadOptions, run_load
from overdrive.load.stages import ArrivalRate, Stage, Stages, parse_rate_stages, parse_stages
from overdrive.load.units import format_figure, parse_duration

__all__ = ["load", "register"]

HELP = """Load-test SCENARIO (a locustfile or a YAML scenario) and judge it against thresholds.

Example: overdrive load scenario.py --host http://127.0.0.1:8000 --stages 30s:50,2m:200,30s:0
-t "p95<200ms" -t "error_rate<1%" --report report.html

Exit codes: 0 thresholds hold, 1 a threshold failed or the baseline regressed,
2 usage error, 3 the run failed (target unreachable, rate not reached).
"""


def load(
    scenario: Annotated[Path, typer.Argument(help="Locustfile (.py) or YAML scenario (.yaml).")],
    host: Annotated[
        str | None, typer.Option(help="Target base URL; needed for any host but this machine.")
    ] = None,
    stages: Annotated[
        str | None, typer.Option(help="Ramping users, e.g. 30s:50,2m:200,30s:0.")
    ] = None,
    users: Annotated[int | None, typer.Option(help="Constant users (with --duration).")] = None,
    slo: Annotated[
        Path | None,
        typer.Option(
            help="SLO file whose objectives are the default thresholds (default: "
            "./overdrive.toml, or [tool.overdrive] in ./pyproject.toml, when present)."
        ),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(help="Open model: iterations/s with --duration, or ramps 30s:50,2m:200."),
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Run length for --users or --rate, e.g. 2m.")
    ] = None,
    max_in_flight: Annotated[
        int, typer.Option(help="Open model: most iterations running at once.")
    ] = 1000,
    threshold: Annotated[
        list[str] | None, typer.Option("--threshold", "-t", help="k6-style budget, repeatable.")
    ] = None,
    abort_on_breach: Annotated[
        bool,
        typer.Option(
            "--abort-on-breach", help="Stop as soon as a latency or error threshold breaks."
        ),
    ] = False,
    abort_grace: Annotated[str, typer.Option(help="No abort before this much run time.")] = "10s",
    baseline: Annotated[Path | None, typer.Option(help="Compare with this saved run.")] = None,
    save_baseline: Annotated[Path | None, typer.Option(help="Save this run as a baseline.")] = None,
    p95_tolerance: Annotated[str, typer.Option(help="Allowed p95 increase vs baseline.")] = "20%",
    rps_tolerance: Annotated[
        str, typer.Option(help="Allowed throughput drop vs baseline.")
    ] = "15%",
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json_report: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON summary here.")
    ] = None,
    png: Annotated[
        Path | None, typer.Option(help="Write a PNG of the charts (needs matplotlib).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Locust workers to start on this machine.")] = 0,
    master: Annotated[
        bool, typer.Option("--master", help="Drive workers started on other machines.")
    ] = False,
    expect_workers: Annotated[int, typer.Option(help="With --master: workers to wait for.")] = 1,
    master_bind_host: Annotated[
        str, typer.Option(help="With --master: interface to listen on.")
    ] = "127.0.0.1",
    master_port: Annotated[int, typer.Option(help="With --master: port to listen on.")] = 5557,
    worker: Annotated[
        str | None, typer.Option(help="Serve as a worker of the master at HOST[:PORT].")
    ] = None,
    user_class: Annotated[
        list[str] | None, typer.Option("--user-class", help="Run only these user classes.")
    ] = None,
    metrics_path: Annotated[
        str,
        typer.Option(help="Target's Prometheus endpoint for the server-side view ('' to skip)."),
    ] = "/metrics",
    live: Annotated[bool, typer.Option(help="Live progress in the terminal.")] = True,
    max_duration: Annotated[str, typer.Option(help="With --worker: longest time to serve.")] = "1h",
) -> None:
    console = Console(stderr=True)
    try:
        if worker is not None:
            raise typer.Exit(
                run_worker(scenario, worker, user_class or [], parse_duration(max_duration))
            )
        options = LoadOptions(
            scenario=scenario,
            plan=_plan(stages, users, rate, duration, max_in_flight),
            host=host,
            thresholds=threshold or [],
            default_thresholds=slo_thresholds(slo),
            abort_on_breach=abort_on_breach,
            abort_grace=parse_duration(abort_grace),
            baseline=baseline,
            save_baseline=save_baseline,
            tolerances=Tolerances(
                p95_increase=_fraction(p95_tolerance, "--p95-tolerance"),
                rps_decrease=_fraction(rps_tolerance, "--rps-tolerance"),
            ),
            report=report,
            json_report=json_report,
            png=png,
            workers=workers,
            master=master,
            expect_workers=expect_workers,
            master_bind_host=master_bind_host,
            master_port=master_port,
            user_classes=user_class or [],
            metrics_path=metrics_path or None,
            live=live,
        )
        result = run_load(options, console)
    except ConfigurationError as error:
        console.print(f"[red]usage error:[/red] {error}")
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:  # the engine and workers were stopped on the way out
        console.print("[yellow]run interrupted:[/yellow] no figures to judge")
        raise typer.Exit(EXIT_RUN_FAILED) from None
    print_summary(Console(), result.document)
    if result.exit_code == EXIT_RUN_FAILED:
        console.print(f"[yellow]run failed:[/yellow] {result.message}")
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """Add `overdrive load` to the main command."""
    app.command("load", help=HELP)(load)


def _plan(
    stages: str | None,
    users: int | None,
    rate: str | None,
    duration: str | None,
    max_in_flight: int,
) -> Stages | ArrivalRate:
    chosen = [
        name
        for name, value in (("--stages", stages), ("--users", users), ("--rate", rate))
        if value is not None
    ]
    if len(chosen) != 1:
        raise ConfigurationError(
            "give exactly one load shape: --stages 30s:50,1m:50, --users N --duration 1m,"
            " or --rate R --duration 1m" + (f" (got {' and '.join(chosen)})" if chosen else "")
        )
    if stages is not None:
        if duration is not None:
            raise ConfigurationError(
                "--duration goes with --users or --rate; stages carry their own"
            )
        return parse_stages(stages)
    if rate is not None and ":" in rate:
        if duration is not None:
            raise ConfigurationError("a ramping --rate carries its own durations: drop --duration")
        return parse_rate_stages(rate, max_in_flight)
    if duration is None:
        raise ConfigurationError(f"{chosen[0]} needs --duration: every run is bounded in time")
    seconds = parse_duration(duration)
    if seconds <= 0:
        raise ConfigurationError("--duration must be positive")
    if rate is not None:
        try:
            per_second = float(rate)
        except ValueError:
            raise ConfigurationError(
                f"--rate {rate!r}: write iterations per second (200) or ramps (30s:50,2m:200)"
            ) from None
        return ArrivalRate.constant(per_second, seconds, max_in_flight)
    assert users is not None
    if users < 1:
        raise ConfigurationError("--users must be at least 1")
    return Stages((Stage(0.0, users), Stage(seconds, users)))


def _fraction(text: str, option: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigurationError(f"{option} {text!r}: write a percentage like 20%") from None
    if value < 0:
        raise ConfigurationError(f"{option} must not be negative")
    return value


def print_summary(console: Console, document: dict[str, Any]) -> None:
    total = document["total"]
    figures = Table(title=f"Load test: {document['verdict']}", title_justify="left")
    for column in ("requests", "req/s", "errors", "p50", "p95", "p99", "max"):
        figures.add_column(column, justify="right")
    figures.add_row(
        f"{total['requests']:.0f}",
        f"{total['rps']:.1f}",
        f"{total['error_rate']:.2%}",
        *(f"{total[key]:.1f} ms" if key in total else "—" for key in ("p50", "p95", "p99", "max")),
    )
    console.print(figures)
    if document["thresholds"]:
        table = Table("threshold", "observed", "result", title="Thresholds", title_justify="left")
        for result in document["thresholds"]:
            observed = (
                "no data"
                if result["observed"] is None
                else format_figure(result["metric"], result["observed"])
            )
            verdict = "[green]pass" if result["passed"] else "[red]FAIL"
            table.add_row(result["expression"], observed, verdict)
        console.print(table)
    if document.get("baseline"):
        table = Table(
            "scope", "metric", "baseline", "now", "change", "limit", "result", title="Baseline"
        )
        for row in document["baseline"]["movements"]:
            change = "n/a" if row["change"] is None else f"{row['change']:+.1%}"
            verdict = (
                "[red]regressed"
                if row["regressed"]
                else ("" if row["limit"] is None else "[green]ok")
            )
            table.add_row(
                row["scope"],
                row["metric"],
                format_figure(row["metric"], row["baseline"]),
                format_figure(row["metric"], row["current"]),
                change,
                row["limit"] or "",
                verdict,
            )
        console.print(table)
        if document["baseline"].get("warning"):
            console.print(f"[yellow]note:[/yellow] {document['baseline']['warning']}")
    server = document.get("server")
    if server:
        parts = []
        if server.get("cache_hit_ratio") is not None:
            parts.append(f"cache hit ratio {server['cache_hit_ratio']:.1%}")
        if server.get("db_statements_per_request") is not None:
            parts.append(f"DB statements/request {server['db_statements_per_request']:.2f}")
        console.print("server side: " + ", ".join(parts))
    late = generator_lag_notice(document)
    if late:
        console.print(f"[yellow]note:[/yellow] {late}")
    if document.get("aborted_by"):
        console.print(f"[red]aborted:[/red] {document['aborted_by']} breached during the run")


def slo_thresholds(path: Path | None) -> list[str]:
    """The SLO file's objectives as thresholds: they apply where no --threshold overrides."""
    from overdrive.slo import find_slo_file, load_objectives, load_thresholds

    found = path if path is not None else find_slo_file(Path.cwd())
    return load_thresholds(load_objectives(found)) if found is not None else []
