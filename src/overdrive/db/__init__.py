"""Query insight for SQLAlchemy: per-request stats, N+1, slow log with plans, keyset pages.

    from overdrive.db import instrument, paginate

    insight = instrument(engine, raise_on_n_plus_one=True)
    with insight.watch() as stats:
        page = await paginate(session, select(Version), order_by=(Version.id.desc(),))

Names are loaded on first use (PEP 562), so `overdrive advise` and the rest of the
`overdrive` command start without importing SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from overdrive.db.cursor import Cursor
    from overdrive.db.errors import (
        AdvisorError,
        InvalidCursor,
        NPlusOneError,
        QueryBudgetError,
        QueryInsightError,
    )
    from overdrive.db.insight import QueryInsight, instrument
    from overdrive.db.normalize import normalize_statement
    from overdrive.db.nplusone import NPlusOneReport
    from overdrive.db.pagination import Page, paginate
    from overdrive.db.replicas import ReplicaRouter
    from overdrive.db.slowlog import SlowQuery
    from overdrive.db.stats import QueryStats

__all__ = [
    "AdvisorError",
    "Cursor",
    "InvalidCursor",
    "NPlusOneError",
    "NPlusOneReport",
    "Page",
    "QueryBudgetError",
    "QueryInsight",
    "QueryInsightError",
    "QueryStats",
    "ReplicaRouter",
    "SlowQuery",
    "instrument",
    "normalize_statement",
    "paginate",
]

_HOMES = {
    "AdvisorError": "errors",
    "Cursor": "cursor",
    "InvalidCursor": "errors",
    "NPlusOneError": "errors",
    "NPlusOneReport": "nplusone",
    "Page": "pagination",
    "QueryBudgetError": "errors",
    "QueryInsight": "insight",
    "QueryInsightError": "errors",
    "QueryStats": "stats",
    "ReplicaRouter": "replicas",
    "SlowQuery": "slowlog",
    "instrument": "insight",
    "normalize_statement": "normalize",
    "paginate": "pagination",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'overdrive.db' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"overdrive.db.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
