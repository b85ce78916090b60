"""The live terminal view shows the last interval's figures."""

from __future__ import annotations

from rich.console import Console

from overdrive.load.progress import LiveProgress


def tick(elapsed: float, requests: int) -> dict[str, object]:
    point = {
        "start": elapsed - 1,
        "span": 1.0,
        "requests": requests,
        "failures": 0,
        "p50": 1.0,
        "p95": 12.5,
        "p99": 20.0,
        "users": 7,
    }
    return {
        "event": "tick",
        "elapsed": elapsed,
        "planned": 10.0,
        "point": point,
        "requests": requests * 2,
        "failures": 2,
        "p95": 12.5,
    }


def test_ticks_update_the_bar_and_figures() -> None:
    """Rate, p95, p99, error share and users of the last tick are shown; the bar advances."""
    console = Console(record=True, force_terminal=True, width=140)
    with LiveProgress(console, planned=10.0) as live:
        live.update(tick(4.0, 250))
        task = live.progress.tasks[0]
        assert task.completed == 4.0
        assert "250.0 req/s" in task.fields["figures"]
        assert "p95    12.5 ms" in task.fields["figures"]
        assert "errors  0.40%" in task.fields["figures"]
        assert "users 7" in task.fields["figures"]
        live.update({"event": "breach", "expression": "p95<10ms", "observed": 12.5})
        assert "aborting: p95<10ms breached" in live.progress.tasks[0].fields["figures"]


def test_disabled_when_not_a_terminal() -> None:
    """Piped output (CI logs) gets no progress bar noise."""
    console = Console(record=True, force_terminal=False)
    with LiveProgress(console, planned=5.0, enabled=False) as live:
        live.update(tick(1.0, 10))
    assert console.export_text() == ""
