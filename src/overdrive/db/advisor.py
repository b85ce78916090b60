"""Index advice proven by the planner, never by guesswork, and never by changing the database.

For each statement: plan it as it is, then once per candidate index with that index
present — hypothetically through HypoPG when the server has it, otherwise really created
inside a transaction that is rolled back (`BEGIN; CREATE INDEX; EXPLAIN; ROLLBACK`). A
candidate is recommended only when the estimated cost drops by at least
`min_improvement` (50 % by default, as Dexter). Statements with bind parameters are
planned generically (`PREPARE` under `plan_cache_mode = force_generic_plan`), so the
advice holds for any parameter value, on Postgres 12 and later. Without HypoPG the
statement is planned again after its candidates were built: a build records the table's
size, which a table never analysed lacked, and plans made before and after must rest on
the same figures.

SQLite has no cost model to read, so its plans are scored: a full `SCAN` of a table
costs 100, a scan through an index 50, a `USE TEMP B-TREE` 20, an index `SEARCH` 1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from overdrive.db.candidates import IndexCandidate, candidate_indexes, covered_by
from overdrive.db.errors import AdvisorError
from overdrive.db.statements import placeholders_for, unique_statements

__all__ = ["AdviceReport", "Recommendation", "advise"]

PREPARED = "overdrive_advise"
NEAR_BEST = 0.02  # a smaller index within 2 % of the best cost is preferred


@dataclass
class Recommendation:
    """An index the planner proved: its statement, costs and the statements it helps."""

    candidate: IndexCandidate
    cost_before: float
    cost_after: float
    statements: list[str] = field(default_factory=list)
    dialect: str = "postgresql"

    @property
    def improvement(self) -> float:
        return 1.0 - self.cost_after / self.cost_before if self.cost_before > 0 else 0.0

    @property
    def create_statement(self) -> str:
        # CONCURRENTLY: build without blocking writes (Postgres only).
        return self.candidate.create_statement(concurrently=self.dialect == "postgresql")

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.candidate.table,
            "columns": list(self.candidate.columns),
            "create_statement": self.create_statement,
            "cost_before": self.cost_before,
            "cost_after": self.cost_after,
            "improvement": round(self.improvement, 4),
            "statements": self.statements,
        }


@dataclass
class AdviceReport:
    """Everything one run learned: what to create, what was tried and refused, and why."""

    method: str
    analysed: int = 0
    recommendations: list[Recommendation] = field(default_factory=list)
    rejected: list[Recommendation] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "analysed": self.analysed,
            "recommendations": [item.as_dict() for item in self.recommendations],
            "rejected": [item.as_dict() for item in self.rejected],
            "covered": self.covered,
            "errors": self.errors,
        }


class _Planner:
    """Costs one statement on one connection, with or without a candidate index."""

    def __init__(self, conn: AsyncConnection, dialect: str, method: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.method = method
        self.columns: dict[str, set[str]] = {}
        self.indexes: dict[str, list[list[str]]] = {}

    async def rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        result = await self.conn.exec_driver_sql(sql, parameters or None)
        return list(result.all())

    async def cost(self, statement: str, parameters: int) -> float:
        if self.dialect == "sqlite":
            rows = await self.rows("EXPLAIN QUERY PLAN " + statement, (None,) * parameters)
            return _sqlite_score([str(row[3]) for row in rows])
        if parameters == 0:
            return _postgres_cost(await self.rows("EXPLAIN (FORMAT JSON) " + statement))
        await self.conn.exec_driver_sql(f"PREPARE {PREPARED} AS {statement}")
        try:
            nulls = ", ".join(["NULL"] * parameters)
            rows = await self.rows(f"EXPLAIN (FORMAT JSON) EXECUTE {PREPARED}({nulls})")
        finally:
            await self.conn.exec_driver_sql(f"DEALLOCATE {PREPARED}")
        return _postgres_cost(rows)

    async def cost_with(
        self, candidate: IndexCandidate, statement: str, parameters: int
    ) -> float:
        if self.method == "hypopg":
            await self.conn.execute(
                text("SELECT * FROM hypopg_create_index(:sql)"),
                {"sql": candidate.create_statement()},
            )
            try:
                return await self.cost(statement, parameters)
            finally:
                await self.conn.exec_driver_sql("SELECT hypopg_reset()")
        await self.conn.exec_driver_sql("SAVEPOINT overdrive_candidate")
        try:
            await self.conn.exec_driver_sql(
                candidate.create_statement(name="overdrive_candidate_idx")
            )
            return await self.cost(statement, parameters)
        finally:
            await self.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT overdrive_candidate")

    async def columns_of(self, table: str) -> set[str]:
        if table not in self.columns:
            if self.dialect == "sqlite":
                pragma = await self.rows(f"PRAGMA table_info({_q(table)})")
                self.columns[table] = {str(row[1]) for row in pragma}
            else:
                rows = (
                    await self.conn.execute(
                        text(
                            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) "
                            "AND attnum > 0 AND NOT attisdropped"
                        ),
                        {"t": table},
                    )
                ).all()
                self.columns[table] = {str(row[0]) for row in rows}
        return self.columns[table]

    async def existing_indexes(self, table: str) -> list[list[str]]:
        if table not in self.indexes:
            if self.dialect == "sqlite":
                found: list[list[str]] = []
                keys = [row for row in await self.rows(f"PRAGMA table_info({_q(table)})") if row[5]]
                if len(keys) == 1 and str(keys[0][2]).upper() == "INTEGER":
                    found.append([str(keys[0][1])])  # INTEGER PRIMARY KEY is the rowid itself
                for row in await self.rows(f"PRAGMA index_list({_q(table)})"):
                    if row[4]:  # partial index: does not serve every query
                        continue
                    info = await self.rows(f"PRAGMA index_info({_q(row[1])})")
                    found.append([str(item[2]) for item in info])
                self.indexes[table] = found
            else:
                rows = await self.conn.execute(
                    text(
                        "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index x "
                        "CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY "
                        "AS k(attnum, ord) "
                        "LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid "
                        "AND a.attnum = k.attnum "
                        "WHERE x.indrelid = to_regclass(:t) AND x.indpred IS NULL "
                        "AND x.indisvalid GROUP BY x.indexrelid"
                    ),
                    {"t": table},
                )
                self.indexes[table] = [
                    [str(name) for name in row[0] if name is not None] for row in rows.all()
                ]
        return self.indexes[table]


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _postgres_cost(rows: Sequence[Sequence[Any]]) -> float:
    document = rows[0][0]
    plan = json.loads(document) if isinstance(document, str | bytes) else document
    return float(plan[0]["Plan"]["Total Cost"])


def _sqlite_score(details: list[str]) -> float:
    score = 0.0
    for detail in details:
        if detail.startswith("SCAN"):
            score += 50 if " USING " in detail else 100
        elif detail.startswith("USE TEMP B-TREE"):
            score += 20
        elif detail.startswith("SEARCH"):
            score += 1
    return score


async def _choose_method(conn: AsyncConnection, dialect: str, use_hypopg: bool | None) -> str:
    if dialect == "sqlite":
        return "rollback"
    if use_hypopg is False:
        return "rollback"
    installed = await conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname='hypopg'"))
    if installed:
        return "hypopg"
    available = await conn.scalar(
        text("SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'")
    )
    if available:
        # Created inside the advisor's transaction, so the final ROLLBACK removes it again.
        await conn.exec_driver_sql("SAVEPOINT overdrive_hypopg")
        try:
            await conn.exec_driver_sql("CREATE EXTENSION hypopg")
        except Exception:
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT overdrive_hypopg")
        else:
            return "hypopg"
    if use_hypopg:
        raise AdvisorError("HypoPG was asked for but is not available on this server")
    return "rollback"


async def advise(
    engine: AsyncEngine,
    statements: Sequence[str],
    *,
    min_improvement: float = 0.5,
    use_hypopg: bool | None = None,
) -> AdviceReport:
    """Propose, prove and rank indexes for `statements` on `engine`'s database.

        report = await advise(engine, [entry["statement"] for entry in insight.slow_queries()])
        for item in report.recommendations:
            print(item.create_statement, f"{item.improvement:.0%}")

    Everything runs in one transaction that is rolled back: the database is left as found.
    """
    if not 0.0 < min_improvement < 1.0:
        raise AdvisorError("min_improvement is a share between 0 and 1, e.g. 0.5")
    dialect = engine.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise AdvisorError(f"the advisor supports PostgreSQL and SQLite, not {dialect}")
    async with engine.connect() as plain:
        conn = await plain.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("BEGIN")
        try:
            if dialect == "postgresql":
                await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
                await conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            method = await _choose_method(conn, dialect, use_hypopg)
            report = AdviceReport(method=method)
            await _advise_all(_Planner(conn, dialect, method), statements, min_improvement, report)
        finally:
            await conn.exec_driver_sql("ROLLBACK")
    return report


async def _advise_all(
    planner: _Planner, statements: Sequence[str], min_improvement: float, report: AdviceReport
) -> None:
    chosen: dict[IndexCandidate, Recommendation] = {}
    refused: dict[IndexCandidate, Recommendation] = {}
    for original, _count in unique_statements(list(statements)):
        statement, parameters = placeholders_for(original, planner.dialect)
        report.analysed += 1
        try:
            candidates = candidate_indexes(statement, planner.dialect)
            tables = {candidate.table for candidate in candidates}
            columns = {table: await planner.columns_of(table) for table in tables}
            candidates = candidate_indexes(statement, planner.dialect, columns.__getitem__)
            before = await planner.cost(statement, parameters)
        except Exception as error:
            await _recover(planner)
            report.errors.append(f"{_short(original)}: {_reason(error)}")
            continue
        best: tuple[float, IndexCandidate] | None = None
        for candidate in candidates:
            if not await planner.columns_of(candidate.table):
                continue
            existing = await planner.existing_indexes(candidate.table)
            if any(covered_by(candidate, index) for index in existing):
                report.covered.append(str(candidate))
                continue
            try:
                after = await planner.cost_with(candidate, statement, parameters)
            except Exception as error:
                await _recover(planner)
                report.errors.append(f"{candidate}: {_reason(error)}")
                continue
            if best is None or after < best[0] * (1 - NEAR_BEST) or (
                after <= best[0] * (1 + NEAR_BEST)
                and len(candidate.columns) < len(best[1].columns)
            ):
                best = (after, candidate)
        if best is None:
            continue
        if planner.method == "rollback":
            # Planned again: building a candidate also recorded the table's size in
            # pg_class, which a table never analysed lacked, and "after" must not be
            # compared with a plan made on default guesses.
            try:
                before = await planner.cost(statement, parameters)
            except Exception as error:
                await _recover(planner)
                report.errors.append(f"{_short(original)}: {_reason(error)}")
                continue
        after, candidate = best
        target = Recommendation(candidate, before, after, [original], planner.dialect)
        book = chosen if target.improvement >= min_improvement else refused
        if candidate in book:
            book[candidate].cost_before += before
            book[candidate].cost_after += after
            book[candidate].statements.append(original)
        else:
            book[candidate] = target
    report.recommendations = sorted(chosen.values(), key=lambda r: r.improvement, reverse=True)
    report.rejected = [item for key, item in refused.items() if key not in chosen]
    report.covered = sorted(set(report.covered))


async def _recover(planner: _Planner) -> None:
    """After a failed statement Postgres refuses everything until the transaction is reset."""
    if planner.dialect == "postgresql":
        await planner.conn.exec_driver_sql("ROLLBACK")
        await planner.conn.exec_driver_sql("BEGIN")
        await planner.conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        await planner.conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
        if planner.method == "hypopg":
            await _choose_method(planner.conn, "postgresql", True)


def _short(statement: str, width: int = 80) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _reason(error: BaseException) -> str:
    return str(getattr(error, "orig", None) or error).splitlines()[0]
