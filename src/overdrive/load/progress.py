"""The live terminal view of a run: a bar over the planned time and the last second's figures."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

__all__ = ["LiveProgress"]


class LiveProgress:
    """Fed the engine's tick messages; silent when the console is not a terminal."""

    def __init__(self, console: Console, planned: float, enabled: bool = True):
        self.progress = Progress(
            TextColumn("[bold]load"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[figures]}"),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self.task: TaskID = self.progress.add_task("load", total=planned, figures="starting")

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def update(self, message: dict[str, Any]) -> None:
        if message.get("event") == "breach":
            figures = f"[red]aborting: {message['expression']} breached"
            self.progress.update(self.task, figures=figures)
            return
        point = message["point"]
        rate = point["requests"] / point["span"] if point["span"] else 0.0
        errors = message["failures"] / message["requests"] if message["requests"] else 0.0
        figures = (
            f"{rate:7.1f} req/s  p95 {point['p95']:7.1f} ms  p99 {point['p99']:7.1f} ms"
            f"  errors {errors:6.2%}  users {point['users']}"
        )
        self.progress.update(
            self.task, completed=min(message["elapsed"], message["planned"]), figures=figures
        )
