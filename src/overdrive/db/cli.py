"""`overdrive advise DATABASE_URL`: index advice proven by the planner, as a rich table.

Registered on the `overdrive` command by `overdrive.cli`. SQLAlchemy and sqlglot are
imported only when the command runs, so the rest of the CLI starts fast and works
without the `db` extra; `advise` itself then says which extra to install.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from overdrive.db.errors import AdvisorError

if TYPE_CHECKING:
    from overdrive.db.advisor import AdviceReport

__all__ = ["advise", "async_url"]

_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
}


def async_url(url: str) -> str:
    """The same database through an asyncio driver (asyncpg, aiosqlite)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise typer.BadParameter(f"{url!r} is not a database URL (postgresql://..., sqlite:///...)")
    return f"{_DRIVERS.get(scheme, scheme)}://{rest}"


def advise(
    database_url: Annotated[str, typer.Argument(help="postgresql://... or sqlite:///file.db")],
    from_log: Annotated[
        Path | None,
        typer.Option(
            help="Slow-log JSON (insight.slow_queries()), JSON lines, a PostgreSQL server "
            "log (log_min_duration_statement) or a ;-separated .sql file."
        ),
    ] = None,
    from_pg_stat_statements: Annotated[
        bool,
        typer.Option(
            "--from-pg-stat-statements",
            help="Read the most expensive statements from pg_stat_statements.",
        ),
    ] = False,
    min_improvement: Annotated[
        float, typer.Option(help="Recommend only when the planner's cost drops by this share.")
    ] = 0.5,
    limit: Annotated[int, typer.Option(help="Statements read from pg_stat_statements.")] = 50,
    hypopg: Annotated[
        bool | None,
        typer.Option(help="Force (or refuse) HypoPG; by default used when available."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Propose indexes for slow or frequent statements and prove them with the planner.

    Never changes the database: candidates are hypothetical (HypoPG) or rolled back.
    """
    console = Console()
    if (from_log is None) == (not from_pg_stat_statements):
        console.print(
            "[red]Give exactly one source:[/red] --from-log FILE or --from-pg-stat-statements"
        )
        raise typer.Exit(2)
    try:
        report = asyncio.run(
            _run(async_url(database_url), from_log, limit, min_improvement, hypopg)
        )
    except ImportError as error:
        console.print(
            '[red]advise needs[/red] pip install "overdrive[db]" and an asyncio driver '
            f"(asyncpg, aiosqlite): {error}"
        )
        raise typer.Exit(2) from error
    except AdvisorError as error:
        console.print(f"[red]advise:[/red] {error}")
        raise typer.Exit(2) from error
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return
    _print(console, report, min_improvement)


async def _run(
    url: str, from_log: Path | None, limit: int, min_improvement: float, hypopg: bool | None
) -> AdviceReport:
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    from overdrive.db.advisor import advise as advise_statements
    from overdrive.db.statements import load_log, read_pg_stat_statements

    try:
        engine = create_async_engine(url)
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise AdvisorError(f"cannot use {url}: {error}") from error
    try:
        if from_log is not None:
            statements = load_log(from_log)
        else:
            async with engine.connect() as conn:
                statements = await read_pg_stat_statements(conn, limit)
        return await advise_statements(
            engine, statements, min_improvement=min_improvement, use_hypopg=hypopg
        )
    except (SQLAlchemyError, OSError) as error:
        raise AdvisorError(f"cannot reach the database: {error}") from error
    finally:
        await engine.dispose()


def _print(console: Console, report: AdviceReport, min_improvement: float) -> None:
    method = "HypoPG" if report.method == "hypopg" else "rolled-back CREATE INDEX"
    console.print(
        f"Analysed [bold]{report.analysed}[/bold] statements, candidates proven with {method}; "
        f"recommending at [bold]{min_improvement:.0%}[/bold] or more cost reduction."
    )
    if report.recommendations:
        table = Table(title="Recommended indexes", show_lines=True)
        table.add_column("Create")
        table.add_column("Cost before", justify="right")
        table.add_column("Cost after", justify="right")
        table.add_column("Gain", justify="right")
        table.add_column("Statements helped")
        for item in report.recommendations:
            table.add_row(
                item.create_statement,
                f"{item.cost_before:,.1f}",
                f"{item.cost_after:,.1f}",
                f"{item.improvement:.0%}",
                "\n".join(" ".join(s.split())[:100] for s in item.statements),
            )
        console.print(table)
    else:
        console.print("[green]No index would cut a statement's cost enough.[/green]")
    if report.rejected:
        table = Table(title="Tried and not worth it")
        table.add_column("Index")
        table.add_column("Gain", justify="right")
        for item in report.rejected:
            table.add_row(str(item.candidate), f"{item.improvement:.0%}")
        console.print(table)
    for covered in report.covered:
        console.print(f"[dim]already covered by an existing index: {covered}[/dim]")
    for error in report.errors:
        console.print(f"[yellow]skipped[/yellow] {error}")
