"""`overdrive advise` reads a slow log, prints proven indexes, and fails clearly on bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from overdrive.cli import app
from tests.servers import free_port

runner = CliRunner()


def make_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER)")


def test_advise_from_a_slow_log_dump(tmp_path: Path) -> None:
    """A JSON dump of insight.slow_queries() yields a CREATE INDEX for the scanned column."""
    database = tmp_path / "shop.db"
    make_database(database)
    log = tmp_path / "slow.json"
    log.write_text(
        json.dumps([{"statement": "SELECT * FROM orders WHERE customer = ?", "duration_ms": 250}])
    )
    result = runner.invoke(
        app, ["advise", f"sqlite:///{database}", "--from-log", str(log)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert 'CREATE INDEX "orders_customer_idx" ON "orders" ("customer")' in result.output
    assert "Recommended indexes" in result.output


def test_advise_json_output(tmp_path: Path) -> None:
    """--json prints the report as data for scripts."""
    database = tmp_path / "shop.db"
    make_database(database)
    log = tmp_path / "queries.sql"
    log.write_text("SELECT * FROM orders WHERE customer = 3;\nSELECT * FROM orders WHERE id = 1;\n")
    result = runner.invoke(
        app, ["advise", f"sqlite:///{database}", "--from-log", str(log), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["analysed"] == 2
    assert report["recommendations"][0]["columns"] == ["customer"]
    assert report["covered"] == ["orders (id)"]


def test_advise_needs_exactly_one_source(tmp_path: Path) -> None:
    """Without --from-log or --from-pg-stat-statements the command explains and exits 2."""
    result = runner.invoke(app, ["advise", "sqlite:///x.db"])
    assert result.exit_code == 2
    assert "exactly one source" in result.output


def test_advise_reports_a_missing_log_file(tmp_path: Path) -> None:
    """A log file that does not exist is a one-line error, not a traceback."""
    result = runner.invoke(
        app, ["advise", f"sqlite:///{tmp_path / 'x.db'}", "--from-log", str(tmp_path / "nope")]
    )
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_advise_without_pg_stat_statements_says_how_to_enable_it(postgres_url: str) -> None:
    """When the extension is missing the error names it and how to install it."""
    result = runner.invoke(app, ["advise", postgres_url, "--from-pg-stat-statements"])
    if "pg_stat_statements is not installed" not in result.output:
        # The server has it: then the command must simply succeed.
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2
    assert "CREATE EXTENSION pg_stat_statements" in result.output


def test_advise_refuses_a_non_url() -> None:
    """Something that is not a URL is refused before anything is opened."""
    result = runner.invoke(app, ["advise", "not-a-url", "--from-log", "x"])
    assert result.exit_code == 2


def test_advise_reports_an_unreachable_database(tmp_path: Path) -> None:
    """A database that refuses connections is one clear line and exit code 2."""
    log = tmp_path / "q.sql"
    log.write_text("SELECT * FROM t WHERE a = 1;\n")
    port = free_port()
    result = runner.invoke(
        app, ["advise", f"postgresql://postgres@127.0.0.1:{port}/test", "--from-log", str(log)]
    )
    assert result.exit_code == 2
    assert "cannot reach the database" in result.output
