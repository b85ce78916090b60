"""The before/after tables and the CV-011 targets, from two measured runs.

Nothing here is a figure of its own: every cell reads a `ModeResult`, and a figure the
run could not measure (a cache hit ratio without a cache, a route the run never reached)
is printed as "n/a", never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from overdrive.demo.drive import ModeResult
from overdrive.demo.memory import TOLERANCE, LinearMemory

__all__ = [
    "MEMORY_LABEL",
    "ROUTES",
    "TARGETS",
    "Target",
    "endpoint_table",
    "missed_targets",
    "summary_table",
    "targets_table",
]

ROUTES = (
    "list versions",
    "get version",
    "compare",
    "preview",
    "autosave",
    "publish",
    "get draft",
    "create preview",
)


@dataclass(frozen=True, slots=True)
class Target:
    """One CV-011 target: a route's p95 below a limit (ms), or the hit ratio above one."""

    label: str
    route: str | None
    limit: float

    def value(self, result: ModeResult) -> float | None:
        if self.route is None:
            # The product's one definition (dashboard panel, alert rule, `overdrive load`):
            # lookups any tier served over lookups made. The response cache's own share of
            # cacheable reads is printed beside it in the summary.
            return result.hit_ratio
        figures = result.document["routes"].get(self.route)
        return None if not figures or not figures.get("requests") else figures.get("p95")

    def met(self, result: ModeResult) -> bool | None:
        value = self.value(result)
        if value is None:
            return None
        return value > self.limit if self.route is None else value < self.limit

    def show(self, result: ModeResult) -> str:
        value = self.value(result)
        if value is None:
            return "n/a"
        return f"{value:.1%}" if self.route is None else _ms(value)


TARGETS = (
    Target("version list p95 < 1 s", "list versions", 1000.0),
    Target("compare p95 < 500 ms", "compare", 500.0),
    Target("preview p95 < 2 s", "preview", 2000.0),
    Target("autosave p95 < 500 ms", "autosave", 500.0),
    Target("cache hit ratio > 80 % (all cache lookups, as the dashboard)", None, 0.80),
)


MEMORY_LABEL = f"memory at most linear in versions (+{TOLERANCE:.0%})"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def endpoint_table(results: Sequence[ModeResult]) -> Table:
    """One row per endpoint; each cell reads `plain → optimised`, in milliseconds."""
    names = " → ".join(result.name for result in results)
    table = Table(title=f"Latency per endpoint in ms, client side ({names})")
    table.add_column("endpoint")
    for heading in ("p50", "p95", "p99", "requests"):
        table.add_column(heading, justify="right")
    for route in ROUTES:
        cells: list[list[str]] = [[], [], [], []]
        for result in results:
            figures = result.document["routes"].get(route)
            if not figures or not figures.get("requests"):
                for cell in cells:
                    cell.append("n/a")
                continue
            for cell, percentile in zip(cells, ("p50", "p95", "p99"), strict=False):
                cell.append(_number(figures[percentile]))
            cells[3].append(f"{figures['requests']:,.0f}")
        table.add_row(route, *(" → ".join(cell) for cell in cells))
    return table


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "n/a (no cache)"


def _repeated(result: ModeResult) -> float | None:
    """Hits over the reads a cache could have answered: those of a URL asked before."""
    hits, first = result.read_hit_ratio, result.first_read_share
    if hits is None or first is None or first >= 1:
        return None
    return hits / (1 - first)


def summary_table(results: Sequence[ModeResult]) -> Table:
    table = Table(title="Whole run")
    table.add_column("figure")
    for result in results:
        table.add_column(result.name, justify="right")

    def row(label: str, cells: list[str]) -> None:
        table.add_row(label, *cells)

    row("requests/s", [f"{r.document['total']['rps']:,.1f}" for r in results])
    row("error rate", [f"{r.document['total']['error_rate']:.2%}" for r in results])
    row("cacheable reads answered from cache", [_ratio(r.read_hit_ratio) for r in results])
    row(
        "cacheable reads of a URL first asked now",
        [_ratio(r.first_read_share) for r in results],
    )
    row("repeated cacheable reads answered from cache", [_ratio(_repeated(r)) for r in results])
    row("cache lookups that hit (all keys)", [_ratio(r.hit_ratio) for r in results])
    row(
        "DB queries per request",
        [
            f"{r.statements_per_request:.2f} ({r.statements_source})"
            if r.statements_per_request is not None
            else "n/a"
            for r in results
        ],
    )
    row("server memory (RSS)", [f"{r.rss_bytes / 2**20:,.0f} MiB" for r in results])
    return table


def targets_table(results: Sequence[ModeResult], memory: LinearMemory | None) -> Table:
    """Each target per mode; memory's row is the optimised app's at two data-set sizes."""
    table = Table(title="CV-011 targets")
    table.add_column("target")
    for result in results:
        table.add_column(result.name, justify="right")
    for target in TARGETS:
        cells = []
        for result in results:
            met = target.met(result)
            mark = {True: "[green]met[/green]", False: "[red]missed[/red]", None: ""}[met]
            cells.append(f"{target.show(result)} {mark}".strip())
        table.add_row(target.label, *cells)
    cells = []
    for result in results:
        if memory is None or not result.optimised:
            cells.append("n/a")
            continue
        mark = "[green]met[/green]" if memory.met else "[red]missed[/red]"
        cells.append(f"{memory.show()} {mark}")
    table.add_row(MEMORY_LABEL, *cells)
    return table


def missed_targets(result: ModeResult, memory: LinearMemory | None) -> list[str]:
    """The targets `result` missed or could not measure (memory: optimised results only)."""
    missed = [target.label for target in TARGETS if not target.met(result)]
    if result.optimised and (memory is None or not memory.met):
        missed.append(MEMORY_LABEL)
    return missed
