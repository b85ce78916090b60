"""Query insight for SQLAlchemy: per-request stats, N+1, slow log with plans, keyset pages.

    from overdrive.db import instrument, paginate

    insight = instrument(engine, raise_on_n_plus_one=True)
    with insight.watch() as stats:
        page = await paginate(session, select(Version), order_by=(Version.id.desc(),))
"""

from __future__ import annotations

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
