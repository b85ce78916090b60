"""benchmarks/bench_versioning_100k.py at tiny sizes: it seeds, loads, reports, cleans up.

The figures of a smoke run mean nothing (a few users for a few seconds on a busy
machine); what is checked is that the script's seeding, its miss phase and one short
`overdrive load` phase run against the served app and end in measured rows, and that
it drops its Postgres schema and deletes its Redis namespace afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from examples.versioning.database import create_engine

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_versioning_100k.py"
NUMBER = r"[\d,]+(?:\.\d+)?"
MEASURED = (
    "list, first page",
    "list, deep page (cursor)",
    "compare 100 KB pair, miss",
    "compare 100 KB pair, hit",
    "autosave",
)


async def _schema_exists(url: str, schema: str) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"),
                {"s": schema},
            )
    finally:
        await engine.dispose()
    return bool(found)


@pytest.mark.timeout(150)
def test_smoke_run_measures_every_endpoint_and_cleans_up(postgres_url: str, redis_url: str) -> None:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--smoke",
            "--no-plain",
            "--database-url",
            postgres_url,
            "--redis-url",
            redis_url,
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=140,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for route in MEASURED:
        row = re.search(
            rf"│ {re.escape(route)} +│ +({NUMBER}) │ +({NUMBER}) │ +({NUMBER}) m?s │"
            rf" +({NUMBER}) m?s │ +({NUMBER}) m?s │ +p95 < [^│]+│ +(MET|NOT MET) │",
            output,
        )
        assert row is not None, f"no measured row for {route}:\n{output}"
        requests, errors, p50, p95, p99 = (float(v.replace(",", "")) for v in row.groups()[:5])
        assert requests > 0, output
        assert errors == 0, output
        assert 0 < p50 <= p95 <= p99, output
    rps = re.search(rf"optimised: ({NUMBER}) requests/s, 0 errors", output)
    assert rps is not None, output
    assert float(rps.group(1).replace(",", "")) > 0
    assert "plain mode (no Overdrive): left out" in output
    cleaned = re.search(r"dropped schema (\w+), deleted Redis namespace ([\w-]+)", output)
    assert cleaned is not None, output
    schema, namespace = cleaned.groups()
    assert not asyncio.run(_schema_exists(postgres_url, schema))
    client = redis.Redis.from_url(redis_url)
    try:
        left = [
            key
            for pattern in (f"{{{namespace}*", f"{namespace}*")
            for key in client.scan_iter(match=pattern, count=1000)
        ]
    finally:
        client.close()
    assert left == []
