"""Statement shapes: the SQL with literals and placeholders stripped.

Two executions with the same shape are "the same query" for N+1 detection and the slow
log, whatever their parameters. The hot path sees a handful of distinct statement
strings (SQLAlchemy caches compiled SQL), so the result is memoised per string and
normalising costs one dictionary lookup after warm-up. Regular expressions rather than a
SQL parser: sqlglot is ~1000x slower per statement and the shape only needs to be stable,
not a parse tree.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

__all__ = ["fingerprint", "normalize_statement"]

_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_STRING = re.compile(r"'(?:[^']|'')*'")
_PLACEHOLDER = re.compile(r"%\([^)]+\)s|%s|\$\d+|(?<![:\w]):[A-Za-z_]\w*|\?")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ROWS = re.compile(r"\(\.\.\.\)(?:\s*,\s*\(\.\.\.\))+")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalize_statement(statement: str) -> str:
    """Return the statement's shape: literals and placeholders as `?`, lists as `(...)`.

    >>> normalize_statement("SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x'")
    'SELECT * FROM t WHERE id IN (...) AND name = ?'
    """
    shape = _COMMENT.sub(" ", statement)
    shape = _STRING.sub("?", shape)
    shape = _PLACEHOLDER.sub("?", shape)
    shape = _NUMBER.sub("?", shape)
    shape = _LIST.sub("(...)", shape)
    shape = _ROWS.sub("(...)", shape)
    return _SPACE.sub(" ", shape).strip()


@lru_cache(maxsize=4096)
def fingerprint(shape: str) -> str:
    """A short stable id for a shape, fit for a log line or a metric label."""
    return hashlib.blake2b(shape.encode(), digest_size=6).hexdigest()
