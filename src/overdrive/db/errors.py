"""Errors raised by query insight, all under `OverdriveError`.

    OverdriveError
    └── QueryInsightError       a query-insight operation that cannot be carried out
        ├── NPlusOneError       a statement shape repeated past the threshold (test mode)
        ├── InvalidCursor       a pagination cursor that is malformed, tampered or foreign
        ├── QueryBudgetError    a block ran more statements than `expect_queries` allowed
        └── AdvisorError        the index advisor cannot read its source or the database
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overdrive.errors import OverdriveError

if TYPE_CHECKING:
    from overdrive.db.nplusone import NPlusOneReport

__all__ = [
    "AdvisorError",
    "InvalidCursor",
    "NPlusOneError",
    "QueryBudgetError",
    "QueryInsightError",
]


class QueryInsightError(OverdriveError):
    """Base class of the errors raised by `overdrive.db`."""


class NPlusOneError(QueryInsightError):
    """One statement shape ran `threshold` times in one request or `watch()` block.

    Raised only with `raise_on_n_plus_one=True` (test mode); production logs and counts.
    """

    def __init__(self, report: NPlusOneReport) -> None:
        self.report = report
        super().__init__(
            f"N+1 queries: {report.count} executions of {report.shape!r} "
            f"issued from {report.location}"
        )


class InvalidCursor(QueryInsightError, ValueError):  # noqa: N818 - the name users know
    """A pagination cursor that does not decode, verify or match the query.

    A web layer answers it with 400: the client sent something we never issued.
    """

    status_code = 400


class QueryBudgetError(QueryInsightError, AssertionError):
    """A block issued more statements than its budget: a test assertion, so AssertionError."""


class AdvisorError(QueryInsightError):
    """The index advisor cannot read its statements or talk to the database."""
