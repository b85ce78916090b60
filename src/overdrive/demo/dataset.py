"""Seeds one mode's database with a progress bar, importing the reference app lazily.

The reference application lives in `examples/` at the repository root, not in the
installed package: the demo is run from a checkout, so the current directory goes on
`sys.path` before the import, and a missing checkout is said plainly.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from overdrive.demo.errors import DemoError

__all__ = ["Seeded", "import_example", "seed_mode"]


@dataclass(frozen=True, slots=True)
class Seeded:
    """What the load scenario needs: items with their version counts, and API tokens."""

    items: list[tuple[str, str, int]]
    tokens: dict[str, str]
    versions: int
    seconds: float


def import_example() -> ModuleType:
    """`examples.versioning`, from the checkout in the current directory."""
    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module("examples.versioning")
    except ModuleNotFoundError as error:
        if error.name not in ("examples", "examples.versioning"):
            raise
        raise DemoError(
            f"the reference application (examples/versioning/) is not under {root}: "
            "run `overdrive demo` from the root of an Overdrive checkout"
        ) from error


def seed_mode(
    database_url: str,
    *,
    optimised: bool,
    schema: str | None,
    sizes: Any,
    console: Console,
    label: str,
) -> Seeded:
    """Create the mode's tables (indexes only when optimised) and fill them."""
    return asyncio.run(_seed(database_url, optimised, schema, sizes, console, label))


async def _seed(
    database_url: str,
    optimised: bool,
    schema: str | None,
    sizes: Any,
    console: Console,
    label: str,
) -> Seeded:
    versioning = import_example()
    loop = asyncio.get_running_loop()
    started = loop.time()
    engine = versioning.create_engine(database_url, schema=schema)
    try:
        await versioning.create_schema(engine, optimised=optimised, schema=schema)
        with Progress(
            f"[bold]{label}[/bold] seeding",
            BarColumn(),
            MofNCompleteColumn(),
            "versions",
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            bar = progress.add_task("seed", total=sizes.total_versions)

            def advance(done: int, total: int) -> None:
                progress.update(bar, completed=done, total=total)

            report = await versioning.seed(engine, sizes, progress=advance)
    finally:
        await engine.dispose()
    counts = [sizes.versions_of(index) for index in range(len(report.items))]
    items = [(kind, name, count) for (kind, name), count in zip(report.items, counts, strict=True)]
    return Seeded(items, dict(report.tokens), report.versions, loop.time() - started)
