"""The HTML report: self-contained, escaped, with every section the run produced."""

from __future__ import annotations

import re
from typing import Any

from overdrive.load.charts import nice_ticks
from overdrive.load.report import render_html


def document(**overrides: Any) -> dict[str, Any]:
    figures = {
        "requests": 100.0,
        "failures": 1.0,
        "error_rate": 0.01,
        "rps": 50.0,
        "p50": 2.0,
        "p90": 3.0,
        "p95": 4.0,
        "p99": 8.0,
        "max": 12.0,
        "avg": 2.5,
        "min": 0.5,
    }
    timeline = [
        {
            "start": float(t),
            "span": 1.0,
            "requests": 50,
            "failures": t % 2,
            "p50": 2.0,
            "p95": 4.0,
            "p99": 8.0,
            "users": 5,
        }
        for t in range(4)
    ]
    base = {
        "scenario": "<script>alert(1)</script>.py",
        "target": "http://127.0.0.1:8000",
        "started_at": "2026-01-01T00:00:00+00:00",
        "plan": {"kind": "stages", "stages": [{"duration": 2.0, "target": 5}]},
        "verdict": "failed",
        "exit_code": 1,
        "total": figures,
        "routes": {"/items/{id}": figures},
        "timeline": timeline,
        "thresholds": [
            {"expression": "p95<200ms", "metric": "p95", "observed": 4.0, "passed": True},
            {"expression": "route:/x:p95<1ms", "metric": "p95", "observed": None, "passed": False},
        ],
        "baseline": {
            "path": "base.json",
            "warning": "the baseline ran a different load plan",
            "movements": [
                {
                    "scope": "overall",
                    "metric": "p95",
                    "baseline": 2.0,
                    "current": 4.0,
                    "change": 1.0,
                    "limit": "+20%",
                    "regressed": True,
                }
            ],
        },
        "server": {
            "cache_hit_ratio": 0.75,
            "cache_hit_ratio_by_tier": {"l1": 0.75},
            "db_statements_per_request": 2.0,
            "server_requests": 200.0,
        },
        "errors": {"HTTPError: 500": 2},
        "run_error": None,
        "aborted_by": None,
        "route_overflow": False,
        "arrivals": None,
    }
    return {**base, **overrides}


def test_report_holds_every_section() -> None:
    """Charts, thresholds, routes, baseline, server side and errors are all rendered."""
    html = render_html(document())
    assert html.count("<svg") == 4
    assert html.count("<polyline") >= 6
    for text in (
        "Thresholds",
        "FAIL",
        "no data",
        "/items/{id}",
        "regressed",
        "75.0%",
        "2.00",
        "HTTPError: 500",
        "Note: the baseline ran a different load plan.",
    ):
        assert text in html


def test_report_fetches_nothing_and_escapes_input() -> None:
    """No script, no external URL to load; user text is escaped."""
    html = render_html(document())
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "@import" not in html


def test_failed_runs_explain_themselves() -> None:
    """A failed or aborted run says why at the top."""
    html = render_html(
        document(
            run_error="target unreachable: refused",
            aborted_by="p95<1ms",
            verdict="run failed",
            exit_code=3,
            timeline=[],
        )
    )
    assert "The run failed: target unreachable: refused" in html
    assert "Aborted early: threshold p95&lt;1ms" in html


def test_nice_ticks_cover_the_range() -> None:
    """Axis ticks are round numbers from zero past the largest value."""
    assert nice_ticks(87) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(0.37)[-1] >= 0.37


def test_a_late_generator_is_called_out() -> None:
    """When the open model fell behind its timetable the report says latencies include it."""
    arrivals = {
        "target_rate": 2000.0,
        "achieved_rate": 1924.0,
        "intended": 6000,
        "issued": 6000,
        "dropped": 0,
        "max_lag_ms": 401.0,
        "task_errors": {},
    }
    html = render_html(document(arrivals=arrivals))
    assert "up to 401 ms late" in html
    assert "Open model" in html
    on_time = render_html(document(arrivals={**arrivals, "max_lag_ms": 3.0}))
    assert "ms late" not in on_time
