"""Candidate indexes read from a statement's WHERE, JOIN and ORDER BY (parsed by sqlglot).

Column order follows the usual rule: equality columns first, then one range column, or
the sort columns when there is no range, so one B-tree serves the filter and the order.
Each single column is also a candidate; the planner decides (see `advisor.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from overdrive.db.errors import AdvisorError

__all__ = ["IndexCandidate", "candidate_indexes", "covered_by"]

MAX_COLUMNS = 4
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
_SQLGLOT_DIALECT = {"postgresql": "postgres", "sqlite": "sqlite"}


@dataclass(frozen=True, slots=True)
class IndexCandidate:
    """An index on `table` over `columns`; the first `equality` columns are interchangeable."""

    table: str
    columns: tuple[str, ...]
    equality: int = 0

    def create_statement(self, *, concurrently: bool = False, name: str | None = None) -> str:
        quoted = ", ".join(_quote(column) for column in self.columns)
        keyword = "CREATE INDEX CONCURRENTLY" if concurrently else "CREATE INDEX"
        index_name = name or f"{self.table.split('.')[-1]}_{'_'.join(self.columns)}_idx"
        return f"{keyword} {_quote(index_name[:63])} ON {_quote_table(self.table)} ({quoted})"

    def __str__(self) -> str:
        return f"{self.table} ({', '.join(self.columns)})"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _quote_table(table: str) -> str:
    return ".".join(_quote(part) for part in table.split("."))


def covered_by(candidate: IndexCandidate, existing: Iterable[str]) -> bool:
    """True when an existing index's leading columns already serve the candidate."""
    columns = list(existing)
    head = candidate.columns[: candidate.equality]
    tail = candidate.columns[candidate.equality :]
    return set(columns[: len(head)]) == set(head) and tuple(
        columns[len(head) : len(head) + len(tail)]
    ) == tuple(tail)


@dataclass
class _Uses:
    equality: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    sort: list[str] = field(default_factory=list)

    @staticmethod
    def add(target: list[str], column: str) -> None:
        if column not in target:
            target.append(column)


ColumnsOf = Callable[[str], set[str]]


class _Reader:
    """Collects column uses per table for one SELECT/UPDATE/DELETE level."""

    def __init__(self, columns_of: ColumnsOf | None) -> None:
        self.columns_of = columns_of
        self.uses: dict[str, _Uses] = {}

    def tables_of(self, node: exp.Expression) -> dict[str, str]:
        tables: dict[str, str] = {}
        sources: list[exp.Expression] = []
        from_clause = node.args.get("from_") or node.args.get("from")
        if isinstance(from_clause, exp.From):
            sources.append(from_clause.this)
        for join in node.args.get("joins") or []:
            sources.append(join.this)
        if isinstance(node, exp.Update | exp.Delete) and isinstance(node.this, exp.Table):
            sources.append(node.this)
        for source in sources:
            if isinstance(source, exp.Table) and source.name:
                full = ".".join(part for part in (source.db, source.name) if part)
                tables[source.alias_or_name] = full
                tables.setdefault(source.name, full)
        return tables

    def resolve(self, column: exp.Column, tables: dict[str, str]) -> tuple[str, str] | None:
        name = column.name
        if not name:
            return None
        if column.table:
            table = tables.get(column.table)
            return (table, name) if table else None
        distinct = set(tables.values())
        if len(distinct) == 1:
            return next(iter(distinct)), name
        if self.columns_of is not None:
            owners = [table for table in distinct if name in self.columns_of(table)]
            if len(owners) == 1:
                return owners[0], name
        return None

    def use(self, table_column: tuple[str, str] | None, kind: str) -> None:
        if table_column is None:
            return
        table, column = table_column
        uses = self.uses.setdefault(table, _Uses())
        _Uses.add(getattr(uses, kind), column)

    def read(self, node: exp.Expression) -> None:
        tables = self.tables_of(node)
        if not tables:
            return
        where = node.args.get("where")
        if isinstance(where, exp.Where):
            self.predicates(where.this, tables)
        for join in node.args.get("joins") or []:
            condition = join.args.get("on")
            if condition is not None:
                self.predicates(condition, tables)
        order = node.args.get("order")
        if isinstance(order, exp.Order):
            resolved = [
                self.resolve(ordered.this, tables)
                for ordered in order.expressions
                if isinstance(ordered, exp.Ordered) and isinstance(ordered.this, exp.Column)
            ]
            if resolved and all(resolved) and len({item[0] for item in resolved if item}) == 1:
                for item in resolved:
                    self.use(item, "sort")

    def predicates(self, condition: exp.Expression, tables: dict[str, str]) -> None:
        for predicate in _conjuncts(condition):
            if isinstance(predicate, exp.Paren):
                self.predicates(predicate.this, tables)
            elif isinstance(predicate, exp.EQ | exp.Is | exp.In):
                left, right = predicate.this, predicate.args.get("expression")
                if isinstance(left, exp.Column):
                    self.use(self.resolve(left, tables), "equality")
                if isinstance(right, exp.Column):
                    self.use(self.resolve(right, tables), "equality")
            elif isinstance(predicate, _RANGE) or (
                isinstance(predicate, exp.Like) and _prefix_pattern(predicate)
            ):
                left, right = predicate.this, predicate.args.get("expression")
                if isinstance(left, exp.Column):
                    self.use(self.resolve(left, tables), "range")
                elif isinstance(right, exp.Column):
                    self.use(self.resolve(right, tables), "range")


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    if isinstance(condition, exp.And):
        return [*_conjuncts(condition.this), *_conjuncts(condition.expression)]
    if isinstance(condition, exp.Paren) and isinstance(condition.this, exp.And):
        return _conjuncts(condition.this)
    return [condition]


def _prefix_pattern(like: exp.Like) -> bool:
    pattern = like.args.get("expression")
    return isinstance(pattern, exp.Literal) and not str(pattern.this).startswith(("%", "_"))


def _for_table(table: str, uses: _Uses) -> list[IndexCandidate]:
    equality = uses.equality[:MAX_COLUMNS]
    ranges = [column for column in uses.range if column not in equality]
    sort = [column for column in uses.sort if column not in equality]
    shapes: list[tuple[tuple[str, ...], int]] = []
    if equality and ranges:
        shapes.append(((*equality, ranges[0]), len(equality)))
    if equality and sort:
        shapes.append(((*equality, *sort), len(equality)))
    if equality:
        shapes.append((tuple(equality), len(equality)))
    if ranges:
        shapes.append(((ranges[0],), 0))
    if sort:
        shapes.append((tuple(sort), 0))
    shapes.extend(((column,), 1) for column in equality)
    seen: set[tuple[str, ...]] = set()
    candidates = []
    for columns, equal in shapes:
        columns = columns[:MAX_COLUMNS]
        if columns not in seen:
            seen.add(columns)
            candidates.append(IndexCandidate(table, columns, min(equal, len(columns))))
    return candidates


def candidate_indexes(
    statement: str, dialect: str, columns_of: ColumnsOf | None = None
) -> list[IndexCandidate]:
    """Every index worth asking the planner about for `statement`, best guesses first.

    `columns_of(table)` names a table's columns, to place unqualified columns in joins.
    """
    read = _SQLGLOT_DIALECT.get(dialect, dialect)
    try:
        # Unquoted identifiers folded as the database folds them (`Orders` is `orders`).
        tree = normalize_identifiers(sqlglot.parse_one(statement, read=read), dialect=read)
    except sqlglot.errors.ParseError as error:
        raise AdvisorError(f"cannot parse statement: {error}") from error
    reader = _Reader(columns_of)
    for node in tree.find_all(exp.Select, exp.Update, exp.Delete):
        reader.read(node)
    candidates: list[IndexCandidate] = []
    for table, uses in reader.uses.items():
        candidates.extend(_for_table(table, uses))
    return candidates
