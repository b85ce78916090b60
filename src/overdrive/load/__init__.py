"""Load budgets: run a Locust scenario, judge it by k6-style thresholds, compare baselines.

from overdrive.load import LoadOptions, parse_stages, run_load

result = run_load(LoadOptions(
    scenario=Path("scenario.py"),
    plan=parse_stages("30s:50,2m:200,30s:0"),
    host="http://127.0.0.1:8000",
    thresholds=["p95<200ms", "error_rate<1%"],
    report=Path("report.html"),
))
raise SystemExit(result.exit_code)
"""

from __future__ import annotations

from overdrive.load.baseline import Movement, Tolerances, compare
from overdrive.load.errors import ScenarioError, ThresholdError
from overdrive.load.runner import LoadOptions, LoadResult, run_load
from overdrive.load.stages import (
    ArrivalRate,
    RateStage,
    Stage,
    Stages,
    parse_rate_stages,
    parse_stages,
)
from overdrive.load.thresholds import (
    Threshold,
    ThresholdResult,
    evaluate_thresholds,
    parse_threshold,
)

__all__ = [
    "ArrivalRate",
    "LoadOptions",
    "LoadResult",
    "Movement",
    "RateStage",
    "ScenarioError",
    "Stage",
    "Stages",
    "Threshold",
    "ThresholdError",
    "ThresholdResult",
    "Tolerances",
    "compare",
    "evaluate_thresholds",
    "parse_rate_stages",
    "parse_stages",
    "parse_threshold",
    "run_load",
]
