"""`overdrive export prometheus-rules` and `overdrive export grafana`, from the SLO file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
import yaml

from overdrive.errors import OverdriveError
from overdrive.observe.grafana import grafana_dashboard
from overdrive.observe.prometheus_rules import rules_document, rules_tests_document
from overdrive.slo import load_objectives

__all__ = ["export_app"]

export_app = typer.Typer(help="Export the SLO file's alerts and dashboard for Prometheus and "
                              "Grafana.", no_args_is_help=True)

SloOption = Annotated[Path | None, typer.Option(
    "--slo", help="SLO file (default: overdrive.toml, else [tool.overdrive] in pyproject.toml).")]


def _fail(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)


def _write(path: Path, text: str) -> None:
    """Write an export, making its folder; an unwritable path is a clear error, not a trace."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as error:
        raise _fail(OSError(f"cannot write {path}: {error.strerror or error}")) from None


@export_app.command("prometheus-rules")
def export_prometheus_rules(
    output: Annotated[Path, typer.Option("--output", "-o", help="Rules file to write.")] = Path(
        "overdrive-rules.yml"),
    tests: Annotated[Path | None, typer.Option(
        help="Also write `promtool test rules` cases to this file.")] = None,
    slo: SloOption = None,
) -> None:
    """Write the alerts as a Prometheus alerting-rules file (`promtool check rules` valid)."""
    try:
        objectives = load_objectives(slo)
        rules = objectives.alert_rules()
        document = rules_document(rules, objectives.memory_limit)
        _write(output, yaml.safe_dump(document, sort_keys=False, width=1000))
        if tests is not None:
            relative = os.path.relpath(output.resolve(), tests.resolve().parent)
            _write(tests, yaml.safe_dump(
                rules_tests_document(rules, str(relative), objectives.memory_limit),
                sort_keys=False, width=1000))
    except OverdriveError as error:
        raise _fail(error) from None
    typer.echo(f"wrote {len(rules)} alerting rules to {output}"
               + (f" and their unit tests to {tests}" if tests else ""))


PROVIDER = """apiVersion: 1
providers:
  - name: overdrive
    folder: Overdrive
    type: file
    allowUiUpdates: false
    options:
      path: {path}
"""


@export_app.command("grafana")
def export_grafana(
    output: Annotated[Path, typer.Option("--output", "-o", help="Dashboard JSON to write.")] = Path(
        "overdrive-dashboard.json"),
    provider: Annotated[Path | None, typer.Option(
        help="Also write a Grafana dashboard-provider YAML pointing at the JSON's folder.")] = None,
    slo: SloOption = None,
) -> None:
    """Write a Grafana dashboard JSON (provisioning-ready) with the built-in page's panels."""
    try:
        dashboard = grafana_dashboard(load_objectives(slo))
    except OverdriveError as error:
        raise _fail(error) from None
    _write(output, json.dumps(dashboard, indent=2))
    if provider is not None:
        _write(provider, PROVIDER.format(path=output.resolve().parent))
    typer.echo(f"wrote a Grafana dashboard with {len(dashboard['panels'])} panels to {output}")
