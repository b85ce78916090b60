"""The `overdrive` command: one entry point whose subcommands arrive with each part."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from overdrive.db.cli import advise
from overdrive.demo.command import demo
from overdrive.load import cli as load_command
from overdrive.observe.cli import export_app

app = typer.Typer(
    name="overdrive",
    help="Make an ASGI API fast, keep it fast, and prove it.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

# Benchmarks that need nothing but this process (the embedded default: L1 only).
EMBEDDED_MARKER = "# overdrive-bench: embedded"


def _print_version(value: bool) -> None:
    if value:
        console.print(f"overdrive [bold]{version('overdrive')}[/bold]")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Overdrive: tiered cache, HTTP caching, query insight, metrics and load budgets."""


@app.command()
def bench(
    directory: Annotated[
        Path, typer.Option(help="Folder holding the benchmark scripts.")
    ] = Path("benchmarks"),
    quick: Annotated[bool, typer.Option(help="Shorter runs, same figures.")] = False,
) -> None:
    """Run the benchmarks that need no server (the embedded default) and print their tables."""
    if not directory.is_dir():
        console.print(f"[red]No benchmark folder at {directory}[/red]: run this from a checkout.")
        raise typer.Exit(2)
    scripts = sorted(
        path
        for path in directory.glob("*.py")
        if EMBEDDED_MARKER in path.read_text(encoding="utf-8")
    )
    if not scripts:
        console.print(f"[red]No embedded benchmarks in {directory}[/red]")
        raise typer.Exit(2)
    failed = 0
    for script in scripts:
        console.rule(f"[bold]{script.name}")
        argv = [sys.executable, str(script), *(["--quick"] if quick else [])]
        # The checkout's root on the path: benchmarks import the reference application.
        root = str(Path.cwd())
        path = os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))
        failed += subprocess.call(argv, env={**os.environ, "PYTHONPATH": path}) != 0
    raise typer.Exit(1 if failed else 0)



def main() -> None:
    app()


# Each part brings its own subcommands; their modules import heavy libraries lazily.
app.command()(demo)
load_command.register(app)
app.command()(advise)
app.add_typer(export_app, name="export")


if __name__ == "__main__":
    main()
