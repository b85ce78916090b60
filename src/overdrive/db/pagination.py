"""Keyset pagination: pages found by their sort key, not by counting rows to skip.

`OFFSET 20000` reads and throws away 20,000 rows; `WHERE (created_at, id) < (:c, :i)`
walks the index straight to the page, so page 1,000 costs what page 1 costs. Rows
inserted while a client walks the pages never shift it: nothing is skipped or repeated.
The order must be total, so the primary key is appended when the caller's order lacks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, literal, or_, tuple_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from overdrive.db.cursor import Cursor, CursorSigner
from overdrive.db.errors import InvalidCursor
from overdrive.errors import ConfigurationError

__all__ = ["Page", "paginate"]

T = TypeVar("T")
_KEY_LABEL = "_overdrive_key_"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows and the opaque cursors to its neighbours (None at either end)."""

    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_cursor is not None


@dataclass(frozen=True, slots=True)
class _SortKey:
    column: ColumnElement[Any]
    descending: bool

    @property
    def name(self) -> str:
        table = getattr(getattr(self.column, "table", None), "name", None)
        name = getattr(self.column, "name", None) or str(self.column)
        return f"{table}.{name}" if table else str(name)


def _sort_key(element: Any) -> _SortKey:
    descending = False
    if isinstance(element, UnaryExpression):
        if element.modifier is operators.desc_op:
            descending = True
        elif element.modifier is not operators.asc_op:
            raise ConfigurationError(
                "paginate() orders by plain columns with .asc()/.desc() (no NULLS FIRST/LAST)"
            )
        element = element.element
    if hasattr(element, "__clause_element__"):
        element = element.__clause_element__()
    if not isinstance(element, ColumnElement):
        raise ConfigurationError(f"cannot paginate by {element!r}: not a column")
    return _SortKey(element, descending)


def _primary_key(statement: Select[Any]) -> list[ColumnElement[Any]]:
    descriptions = statement.column_descriptions
    entity = descriptions[0].get("entity") if descriptions else None
    if entity is not None:
        return list(sa_inspect(entity).primary_key)
    for from_clause in statement.get_final_froms():
        keys = list(getattr(from_clause, "primary_key", []))
        if keys:
            return keys
    return []


def _same_column(left: ColumnElement[Any], right: ColumnElement[Any]) -> bool:
    return bool(left.compare(right)) or (
        getattr(left, "table", None) is getattr(right, "table", None)
        and getattr(left, "name", None) == getattr(right, "name", None)
        and getattr(left, "name", None) is not None
    )


def _after(keys: Sequence[_SortKey], values: Sequence[Any], forward: bool) -> ColumnElement[bool]:
    """Rows strictly after `values` in the walking direction."""

    # Bound with each column's own type, so custom types (UUID as CHAR, enums, tz-aware
    # datetimes on SQLite) compare in their stored form.
    bound = [literal(value, key.column.type) for key, value in zip(keys, values, strict=True)]

    def beyond(position: int) -> ColumnElement[bool]:
        key = keys[position]
        earlier: ColumnElement[bool] = key.column < bound[position]
        later: ColumnElement[bool] = key.column > bound[position]
        return earlier if key.descending == forward else later

    if len({key.descending for key in keys}) == 1:
        columns = tuple_(*(key.column for key in keys))
        values_tuple = tuple_(*bound)
        # A row comparison walks a composite index directly on Postgres and SQLite.
        earlier: ColumnElement[bool] = columns < values_tuple
        later: ColumnElement[bool] = columns > values_tuple
        return earlier if keys[0].descending == forward else later
    clauses: list[ColumnElement[bool]] = []
    for position in range(len(keys)):
        equal = [keys[i].column == bound[i] for i in range(position)]
        clauses.append(and_(*equal, beyond(position)))
    return or_(false(), *clauses)


async def paginate(
    session: AsyncSession | AsyncConnection,
    statement: Select[Any],
    *,
    order_by: Sequence[Any] = (),
    limit: int = 20,
    cursor: str | Cursor | None = None,
    secret: str | bytes | None = None,
    max_limit: int = 1000,
) -> Page[Any]:
    """Fetch one page of `statement` in `order_by` order, after or before `cursor`.

        page = await paginate(
            session,
            select(Version).where(Version.content_id == 7),
            order_by=(Version.created_at.desc(), Version.id.desc()),
            limit=20,
            cursor=request.query_params.get("cursor"),
        )
        page.items, page.next_cursor, page.prev_cursor

    A cursor that was tampered with, truncated or issued for another ordering raises
    `InvalidCursor` (answer 400). The sort columns must be NOT NULL.
    """
    if not 1 <= limit <= max_limit:
        raise ConfigurationError(f"limit must be between 1 and {max_limit}, not {limit}")
    keys = [_sort_key(element) for element in order_by]
    for column in _primary_key(statement):
        if not any(_same_column(key.column, column) for key in keys):
            keys.append(_SortKey(column, keys[-1].descending if keys else False))
    if not keys:
        raise ConfigurationError("paginate() needs order_by or a table with a primary key")
    scope = ",".join(f"{key.name}:{'d' if key.descending else 'a'}" for key in keys)
    signer = CursorSigner(secret)

    position: Cursor | None
    if cursor is None or cursor == "":
        position = None
    elif isinstance(cursor, Cursor):
        position = cursor
    else:
        position = signer.decode(cursor, scope)
    if position is not None and len(position.values) != len(keys):
        raise InvalidCursor("cursor does not match this ordering")
    forward = position is None or position.direction == "next"

    width = len(statement.column_descriptions)
    query = statement.order_by(None).add_columns(
        *(key.column.label(f"{_KEY_LABEL}{index}") for index, key in enumerate(keys))
    )
    if position is not None:
        query = query.where(_after(keys, position.values, forward))
    query = query.order_by(
        *(
            key.column.desc() if key.descending == forward else key.column.asc()
            for key in keys
        )
    ).limit(limit + 1)

    rows = list((await session.execute(query)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not forward:
        rows.reverse()
    items = [row[0] if width == 1 else tuple(row[:width]) for row in rows]

    def edge(row: Any, direction: str) -> str:
        values = tuple(row[width:])
        if any(value is None for value in values):
            raise ConfigurationError(f"a sort key is NULL ({scope}); keyset needs NOT NULL keys")
        return signer.encode(Cursor(values, "next" if direction == "next" else "prev"), scope)

    has_next = has_more if forward else True
    has_prev = position is not None if forward else has_more
    return Page(
        items=items,
        next_cursor=edge(rows[-1], "next") if rows and has_next else None,
        prev_cursor=edge(rows[0], "prev") if rows and has_prev else None,
    )
