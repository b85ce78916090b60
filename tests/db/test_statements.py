"""The advisor reads statements from every log shape and rewrites each placeholder style."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from overdrive.db.errors import AdvisorError
from overdrive.db.statements import load_log, placeholders_for, unique_statements


@pytest.mark.parametrize(
    ("statement", "postgres", "count"),
    [
        ("SELECT * FROM t WHERE a = %(a)s AND b = %(b)s OR a = %(a)s",
         "SELECT * FROM t WHERE a = $1 AND b = $2 OR a = $1", 2),
        ("SELECT * FROM t WHERE a = %s AND b = %s", "SELECT * FROM t WHERE a = $1 AND b = $2", 2),
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2", 2),
        ("SELECT * FROM t WHERE a = :a::int", "SELECT * FROM t WHERE a = $1::int", 1),
        ("SELECT * FROM t WHERE a = $2 AND b = $1", "SELECT * FROM t WHERE a = $2 AND b = $1", 2),
        ("SELECT '?', ':x' FROM t WHERE a = ?", "SELECT '?', ':x' FROM t WHERE a = $1", 1),
    ],
)
def test_placeholders_become_numbered_for_postgres(
    statement: str, postgres: str, count: int
) -> None:
    """Every driver's placeholder style is rewritten as $n; string literals are left alone."""
    assert placeholders_for(statement, "postgresql") == (postgres, count)


def test_placeholders_become_question_marks_for_sqlite() -> None:
    """For SQLite every placeholder is a positional ?."""
    assert placeholders_for("SELECT * FROM t WHERE a = $1 AND b = :b", "sqlite") == (
        "SELECT * FROM t WHERE a = ? AND b = ?",
        2,
    )


def test_slow_log_dump_and_json_lines(tmp_path: Path) -> None:
    """A JSON array and JSON lines give their `statement` fields; writes without WHERE too."""
    dump = tmp_path / "slow.json"
    dump.write_text(json.dumps([{"statement": "SELECT 1"}, {"statement": "VACUUM"}]))
    assert load_log(dump) == ["SELECT 1"]
    lines = tmp_path / "slow.jsonl"
    lines.write_text('{"statement": "SELECT 2"}\n\n{"query": "DELETE FROM t WHERE a = 1"}\n')
    assert load_log(lines) == ["SELECT 2", "DELETE FROM t WHERE a = 1"]


def test_postgres_server_log(tmp_path: Path) -> None:
    """log_min_duration_statement lines, with indented continuation lines, are read."""
    log = tmp_path / "postgresql.log"
    log.write_text(
        "2026-11-21 10:00:00 UTC [42] LOG:  duration: 812.3 ms  statement: SELECT *\n"
        "\tFROM orders WHERE customer_id = 7\n"
        "2026-11-21 10:00:01 UTC [42] LOG:  checkpoint starting: time\n"
        "2026-11-21 10:00:02 UTC [42] LOG:  duration: 120.0 ms  execute <unnamed>: "
        "SELECT * FROM t WHERE a = $1\n"
    )
    assert load_log(log) == [
        "SELECT *\nFROM orders WHERE customer_id = 7",
        "SELECT * FROM t WHERE a = $1",
    ]


def test_plain_sql_file(tmp_path: Path) -> None:
    """A .sql file is split on semicolons at line ends."""
    sql = tmp_path / "q.sql"
    sql.write_text("SELECT 1;\nSELECT 'a;b'\nFROM t;\n")
    assert load_log(sql) == ["SELECT 1", "SELECT 'a;b'\nFROM t"]


def test_broken_json_is_an_advisor_error(tmp_path: Path) -> None:
    """A malformed JSON log is refused with the file and line."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"statement": "SELECT 1"}\n{oops\n')
    with pytest.raises(AdvisorError, match=r"bad\.jsonl:2"):
        load_log(bad)


def test_unique_statements_groups_by_shape() -> None:
    """Repeats of one shape collapse to the first, most frequent first."""
    statements = ["SELECT * FROM t WHERE a = 1", "SELECT * FROM u", "SELECT * FROM t WHERE a = 2"]
    assert unique_statements(statements) == [
        ("SELECT * FROM t WHERE a = 1", 2),
        ("SELECT * FROM u", 1),
    ]
