"""Where the index advisor's statements come from, and how their placeholders are rewritten.

Statements arrive from our slow log (JSON, as `insight.slow_queries()` returns it, or one
JSON object per line), from a PostgreSQL server log written with
`log_min_duration_statement` (what Dexter reads), from a plain `.sql` file, or from
`pg_stat_statements`. Each
driver writes placeholders its own way (`$1`, `%(name)s`, `%s`, `?`, `:name`); the
advisor plans them as Postgres `$n` parameters or SQLite `?`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from overdrive.db.errors import AdvisorError
from overdrive.db.normalize import normalize_statement

__all__ = ["load_log", "placeholders_for", "read_pg_stat_statements", "unique_statements"]

_TOKENS = re.compile(
    r"(?P<string>'(?:[^']|'')*')"
    r"|(?P<dollar>\$\d+)"
    r"|(?P<pyformat>%\([^)]+\)s)"
    r"|(?P<format>%s)"
    r"|(?P<cast>::)"
    r"|(?P<named>(?<![:\w]):[A-Za-z_]\w*)"
    r"|(?P<qmark>\?)"
)
_SERVER_LOG = re.compile(
    r"duration: [\d.]+ ms\s+(?:statement|execute [^:]*):\s(?P<sql>.*)"
)
_ADVISABLE = re.compile(r"^\s*\(?\s*(select|with|update|delete)\b", re.IGNORECASE)


def placeholders_for(statement: str, dialect: str) -> tuple[str, int]:
    """Rewrite every placeholder as `$n` (Postgres) or `?` (SQLite); return the count.

    The same named parameter used twice keeps one number, as the driver would bind it.
    """
    numbers: dict[str, int] = {}
    counter = itertools.count(1)

    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup
        token = match.group(0)
        if kind in ("string", "cast"):
            return token
        if kind == "dollar":
            number = int(token[1:])
        elif kind in ("pyformat", "named"):
            if token not in numbers:
                numbers[token] = next(counter)
            number = numbers[token]
        else:
            number = next(counter)
        return f"${number}" if dialect == "postgresql" else "?"

    rewritten = _TOKENS.sub(replace, statement)
    if dialect == "postgresql":
        found = [int(n) for n in re.findall(r"\$(\d+)", _strip_strings(rewritten))]
        return rewritten, max(found, default=0)
    return rewritten, _strip_strings(rewritten).count("?")


def _strip_strings(statement: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", statement)


def _statement_of(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        value = item.get("statement") or item.get("query")
        return value if isinstance(value, str) else None
    return None


def load_log(path: Path) -> list[str]:
    """Statements from a slow-log JSON dump, a JSON-lines file, or `;`-separated SQL."""
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AdvisorError(f"cannot read {path}: {error.strerror or error}") from error
    stripped = content.lstrip()
    items: list[Any]
    if stripped.startswith("["):
        try:
            items = list(json.loads(stripped))
        except ValueError as error:
            raise AdvisorError(f"{path} is not valid JSON: {error}") from error
    elif _SERVER_LOG.search(content):
        items = _server_log_statements(content)
    elif stripped.startswith("{"):
        items = []
        for number, line in enumerate(content.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as error:
                    raise AdvisorError(f"{path}:{number} is not a JSON object") from error
    else:
        items = [part.strip() for part in re.split(r";\s*(?:\n|$)", content) if part.strip()]
    statements = [s for s in (_statement_of(item) for item in items) if s]
    return [s for s in statements if _ADVISABLE.match(s)]


def _server_log_statements(content: str) -> list[str]:
    """`LOG:  duration: 812.3 ms  statement: SELECT ...`, continuation lines indented."""
    statements: list[str] = []
    current: list[str] | None = None
    for line in content.splitlines():
        match = _SERVER_LOG.search(line)
        if match:
            if current:
                statements.append("\n".join(current))
            current = [match.group("sql")]
        elif current is not None and line[:1] in ("\t", " "):
            current.append(line.strip())
        elif current is not None:
            statements.append("\n".join(current))
            current = None
    if current:
        statements.append("\n".join(current))
    return statements


def unique_statements(statements: list[str]) -> list[tuple[str, int]]:
    """One representative per shape, most frequent first, with how often it appeared."""
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for statement in statements:
        shape = normalize_statement(statement)
        counts[shape] += 1
        first.setdefault(shape, statement)
    return [(first[shape], count) for shape, count in counts.most_common()]


async def read_pg_stat_statements(conn: AsyncConnection, limit: int = 50) -> list[str]:
    """The most time-consuming reads and writes recorded by `pg_stat_statements`."""
    installed = await conn.scalar(
        text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
    )
    if not installed:
        raise AdvisorError(
            "pg_stat_statements is not installed in this database: add it to "
            "shared_preload_libraries and run CREATE EXTENSION pg_stat_statements"
        )
    try:
        rows = await conn.execute(
            text(
                "SELECT query FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "ORDER BY total_exec_time DESC LIMIT :limit"
            ),
            {"limit": limit},
        )
    except Exception as error:
        raise AdvisorError(f"cannot read pg_stat_statements: {error}") from error
    return [row[0] for row in rows if _ADVISABLE.match(row[0])]
