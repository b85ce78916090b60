"""Candidate indexes come from WHERE, JOIN and ORDER BY, equality columns first."""

from __future__ import annotations

import pytest

from overdrive.db.candidates import IndexCandidate, candidate_indexes, covered_by
from overdrive.db.errors import AdvisorError


def test_candidates_put_equality_before_range_and_sort() -> None:
    """WHERE a = ? AND b > ? ORDER BY c proposes (a, b) and (a, c), then singles."""
    found = candidate_indexes(
        "SELECT * FROM t WHERE t.a = $1 AND t.b > $2 ORDER BY t.c", "postgresql"
    )
    columns = [candidate.columns for candidate in found]
    assert columns[:2] == [("a", "b"), ("a", "c")]
    assert ("a",) in columns
    assert ("b",) in columns


def test_join_columns_are_placed_with_the_catalog() -> None:
    """Unqualified columns in a join go to the table that has them."""
    tables = {"orders": {"id", "customer_id", "status"}, "customers": {"id", "country"}}
    found = candidate_indexes(
        "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE status = 'open' AND country = 'FR'",
        "postgresql",
        tables.__getitem__,
    )
    assert IndexCandidate("orders", ("status", "customer_id"), 2) in found
    assert IndexCandidate("customers", ("country", "id"), 2) in found


def test_coverage_ignores_equality_order() -> None:
    """An index on (b, a, c) covers equality (a, b) then c, not (a, c)."""
    assert covered_by(IndexCandidate("t", ("a", "b", "c"), 2), ["b", "a", "c", "d"])
    assert not covered_by(IndexCandidate("t", ("a", "c"), 1), ["b", "a", "c"])


def test_unparseable_sql_is_an_advisor_error() -> None:
    """Garbage is a clear AdvisorError."""
    with pytest.raises(AdvisorError):
        candidate_indexes("SELECT FROM WHERE (((", "postgresql")


def test_unquoted_identifiers_fold_like_postgres() -> None:
    """`FROM Orders WHERE Customer = 1` names orders.customer; quoted names keep their case."""
    statement = 'SELECT * FROM Orders WHERE Customer = 1 AND "Kind" = 2'
    found = candidate_indexes(statement, "postgresql")
    assert found[0] == IndexCandidate("orders", ("customer", "Kind"), 2)
