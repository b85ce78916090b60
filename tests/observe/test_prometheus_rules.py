"""Exported rules and dashboard: promtool checks the rules and runs the generated unit tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from overdrive.cli import app
from tests.servers import service_required

SLO = '''
[slo]
latency_p95 = "500ms"
latency_p99 = "2s"
error_rate = "1%"
cache_hit_ratio = "70%"
memory_limit = "512MB"
keep_firing_for = "2m"
[[slo.routes]]
route = "/items/{item_id}"
p95 = "100ms"
[[alerts]]
name = "TrafficStopped"
measure = "request_rate"
comparison = "<"
threshold = 0.5
severity = "critical"
runbook_url = "https://runbooks.example/traffic"
'''


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        if service_required():
            pytest.fail("promtool is missing: scripts/system-packages installs it")
        pytest.skip("promtool is not installed")
    return binary


def test_exported_rules_pass_promtool_check_and_their_unit_tests(tmp_path: Path) -> None:
    """`overdrive export prometheus-rules` output is valid and every rule fires only when due."""
    binary = promtool()
    (tmp_path / "overdrive.toml").write_text(SLO)
    rules, tests = tmp_path / "rules.yml", tmp_path / "rules_test.yml"
    result = CliRunner().invoke(app, ["export", "prometheus-rules", "--slo",
                                      str(tmp_path / "overdrive.toml"), "-o", str(rules),
                                      "--tests", str(tests)])
    assert result.exit_code == 0, result.output
    assert "wrote 8 alerting rules" in result.output
    check = subprocess.run([binary, "check", "rules", str(rules)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 8 rules found" in check.stdout
    run = subprocess.run([binary, "test", "rules", str(tests)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_a_broken_rule_would_be_caught_by_the_generated_tests(tmp_path: Path) -> None:
    """The unit tests can fail: a threshold changed behind their back makes promtool fail."""
    binary = promtool()
    rules, tests = tmp_path / "rules.yml", tmp_path / "rules_test.yml"
    result = CliRunner().invoke(app, ["export", "prometheus-rules", "-o", str(rules),
                                      "--tests", str(tests), "--slo", str(_default_slo(tmp_path))])
    assert result.exit_code == 0, result.output
    rules.write_text(rules.read_text().replace("> 0.5", "> 50"))
    run = subprocess.run([binary, "test", "rules", str(tests)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert run.returncode != 0


def _default_slo(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


def test_grafana_export_has_the_dashboard_panels(tmp_path: Path) -> None:
    """The Grafana JSON carries the built-in page's panels and the SLO's target lines."""
    (tmp_path / "overdrive.toml").write_text(SLO)
    output = tmp_path / "dashboard.json"
    provider = tmp_path / "provider.yml"
    result = CliRunner().invoke(app, ["export", "grafana", "--slo",
                                      str(tmp_path / "overdrive.toml"), "-o", str(output),
                                      "--provider", str(provider)])
    assert result.exit_code == 0, result.output
    dashboard = json.loads(output.read_text())
    import yaml

    providers = yaml.safe_load(provider.read_text())["providers"]
    assert providers[0]["options"]["path"] == str(tmp_path.resolve())
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert titles[:4] == ["Request rate", "Error rate", "Latency p50 / p95 / p99",
                          "Cache hit ratio"]
    latency = dashboard["panels"][2]
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[1]["value"] == 0.5
    assert "histogram_quantile(0.95" in latency["targets"][1]["expr"]
    assert dashboard["templating"]["list"][0]["type"] == "datasource"


def test_export_reports_a_bad_slo_file(tmp_path: Path) -> None:
    """A broken SLO file exits with status 2 and says what is wrong."""
    bad = tmp_path / "overdrive.toml"
    bad.write_text('[slo]\nerror_rate = "lots"\n')
    result = CliRunner().invoke(app, ["export", "grafana", "--slo", str(bad),
                                      "-o", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "error_rate" in result.output


def test_exports_make_their_folder_and_refuse_an_unwritable_path(tmp_path: Path) -> None:
    """A missing output folder is created; a path under a file is a clear error, exit 2."""
    (tmp_path / "overdrive.toml").write_text(SLO)
    slo = ["--slo", str(tmp_path / "overdrive.toml")]
    rules = tmp_path / "deploy" / "prometheus" / "rules.yml"
    result = CliRunner().invoke(app, ["export", "prometheus-rules", *slo, "-o", str(rules)])
    assert result.exit_code == 0, result.output
    assert "groups:" in rules.read_text()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(app, ["export", "grafana", *slo,
                                      "-o", str(blocker / "dashboard.json")])
    assert result.exit_code == 2
    assert "cannot write" in result.output
    assert "Traceback" not in result.output
