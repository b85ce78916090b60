"""`overdrive advise --from-pg-stat-statements` advises the statements Postgres recorded."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from overdrive.cli import app
from tests.db import pgserver
from tests.servers import service_required

pytestmark = pytest.mark.slow


def test_frequent_statements_from_pg_stat_statements_get_an_index() -> None:
    """Parameterised statements recorded by pg_stat_statements are planned generically."""
    if not pgserver.available():
        if service_required():
            pytest.fail("PostgreSQL server binaries are needed under CI")
        pytest.skip("PostgreSQL server binaries are not installed")
    with pgserver.private_postgres("shared_preload_libraries=pg_stat_statements") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            conn.execute(
                "CREATE TABLE tickets AS SELECT g AS id, g % 3000 AS requester, "
                "md5(g::text) AS subject FROM generate_series(1, 60000) g"
            )
            conn.execute("ANALYZE tickets")
            for requester in range(20):
                conn.execute("SELECT * FROM tickets WHERE requester = %s", (requester,))
        result = CliRunner().invoke(app, ["advise", url, "--from-pg-stat-statements", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        tickets = [r for r in report["recommendations"] if r["table"] == "tickets"]
        assert [r["columns"] for r in tickets] == [["requester"]]
        assert "$1" in tickets[0]["statements"][0]
        assert tickets[0]["improvement"] >= 0.5
