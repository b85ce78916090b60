"""The SLO file: defaults, both file locations, clear errors, and the load thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest

from overdrive.errors import ConfigurationError
from overdrive.slo import Objectives, load_objectives, load_thresholds, parse_ratio, parse_size


def test_no_file_gives_the_seed_targets(tmp_path: Path) -> None:
    """Without any file the defaults are p95 500 ms, 1 % errors, 70 % hits, 100 ms lag."""
    objectives = load_objectives(directory=tmp_path)
    assert objectives == Objectives()
    assert (objectives.latency_p95, objectives.error_rate) == (0.5, 0.01)
    assert (objectives.cache_hit_ratio, objectives.event_loop_lag) == (0.70, 0.1)
    names = [rule.name for rule in objectives.alert_rules()]
    assert names == ["OverdriveLatencyP95High", "OverdriveErrorRateHigh",
                     "OverdriveCacheHitRatioLow", "OverdriveEventLoopLagHigh"]


def test_overdrive_toml_is_read_with_units(tmp_path: Path) -> None:
    """Durations, percentages and sizes are read with their units, routes and extra alerts too."""
    (tmp_path / "overdrive.toml").write_text('''
[slo]
latency_p95 = "250ms"
latency_p99 = "1s"
error_rate = "0.5%"
cache_hit_ratio = 0.8
memory_limit = "512MB"
for = "2m"
[[slo.routes]]
route = "/items/{item_id}"
p95 = "100ms"
[[alerts]]
name = "Quiet"
measure = "request_rate"
comparison = "<"
threshold = 1
severity = "info"
runbook_url = "https://runbooks.example/quiet"
''')
    objectives = load_objectives(directory=tmp_path)
    assert objectives.latency_p95 == 0.25
    assert objectives.latency_p99 == 1.0
    assert objectives.error_rate == pytest.approx(0.005)
    assert objectives.memory_limit == 512_000_000
    assert objectives.for_ == 120
    rules = {rule.name: rule for rule in objectives.alert_rules()}
    assert rules["OverdriveRoute0LatencyP95High"].route == "/items/{item_id}"
    assert rules["OverdriveMemoryHigh"].threshold == 0.8
    assert rules["Quiet"].annotations["runbook_url"] == "https://runbooks.example/quiet"
    assert rules["Quiet"].for_ == 120


def test_pyproject_tool_table_is_used_when_no_overdrive_toml(tmp_path: Path) -> None:
    """`[tool.overdrive.slo]` in pyproject.toml is the fallback location."""
    (tmp_path / "pyproject.toml").write_text('[tool.overdrive.slo]\nlatency_p95 = "300ms"\n')
    assert load_objectives(directory=tmp_path).latency_p95 == pytest.approx(0.3)


@pytest.mark.parametrize(("body", "message"), [
    ('[slo]\nlatency_p95 = "fast"\n', "not a duration"),
    ('[slo]\nerror_rate = "150%"\n', "outside 0..1"),
    ('[slo]\nlatncy_p95 = "1s"\n', "unknown keys"),
    ('[[alerts]]\nname = "X"\nmeasure = "cpu"\nthreshold = 1\n', "unknown measure"),
    ('[[alerts]]\nname = "X"\n', "`measure` is required"),
    ("[slo\n", "invalid TOML"),
])
def test_bad_files_raise_errors_that_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    """A mistake in the file is a ConfigurationError naming what is wrong."""
    (tmp_path / "overdrive.toml").write_text(body)
    with pytest.raises(ConfigurationError, match=message):
        load_objectives(directory=tmp_path)


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    """Asking for a file that is not there fails instead of silently using defaults."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_objectives(tmp_path / "nope.toml")


def test_load_thresholds_are_k6_style(tmp_path: Path) -> None:
    """The load command's default thresholds come from the same objectives."""
    (tmp_path / "overdrive.toml").write_text(
        '[slo]\nlatency_p95 = "500ms"\nerror_rate = "1%"\n'
        '[[slo.routes]]\nroute = "/x/{y}"\np95 = "100ms"\np99 = "250ms"\n')
    assert load_thresholds(load_objectives(directory=tmp_path)) == [
        "p95<500ms", "error_rate<1%", "route:/x/{y}:p95<100ms", "route:/x/{y}:p99<250ms"]


def test_ratio_and_size_parsers_reject_nonsense() -> None:
    """Booleans, negative sizes and words are refused."""
    assert parse_ratio("70%", name="x") == pytest.approx(0.7)
    assert parse_size("1GiB", name="x") == 2**30
    for bad in (True, "lots"):
        with pytest.raises(ConfigurationError):
            parse_ratio(bad, name="x")
    with pytest.raises(ConfigurationError):
        parse_size("-5MB", name="x")


def test_thresholds_parse_with_the_load_command(tmp_path: Path) -> None:
    """Every default threshold is one the load command's parser accepts as meant."""
    from overdrive.load.thresholds import parse_threshold

    (tmp_path / "overdrive.toml").write_text(
        '[slo]\nlatency_p99 = "1s"\n[[slo.routes]]\nroute = "/x/{y}"\np95 = "100ms"\n')
    objectives = load_objectives(directory=tmp_path)
    parsed = [parse_threshold(text) for text in load_thresholds(objectives)]
    assert [(t.metric, t.limit, t.route) for t in parsed] == [
        ("p95", 500.0, None), ("p99", 1000.0, None), ("error_rate", 0.01, None),
        ("p95", 100.0, "/x/{y}")]


def test_the_load_command_takes_its_default_thresholds_from_the_slo_file(
    tmp_path: Path,
) -> None:
    """One declaration: `overdrive load` budgets come from overdrive.toml when it exists."""
    from overdrive.load.cli import slo_thresholds

    slo_file = tmp_path / "overdrive.toml"
    slo_file.write_text('[slo]\nlatency_p95 = "200ms"\nerror_rate = "0.5%"\n', encoding="utf-8")
    thresholds = slo_thresholds(slo_file)
    assert "p95<200ms" in thresholds
    assert any(text.startswith("error_rate<0.5") for text in thresholds)
