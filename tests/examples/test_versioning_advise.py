"""`overdrive advise` on the application's own workload: nothing important missing from the
optimised schema, while the plain schema (primary keys only) gets the listing's index."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from overdrive.db import instrument
from tests.examples.conftest import Deploy, Deployment

pytestmark = pytest.mark.parametrize("database", ["postgres"], indirect=True)


async def _workload(deployment: Deployment) -> None:
    """Every endpoint the demo's scenario drives, each read more than once."""
    item = deployment.item()
    for _ in range(2):
        page = await deployment.get(f"{item}/versions")
        assert page.status_code == 200, page.text
        cursor = page.json().get("next_cursor")
        if cursor:
            assert (await deployment.get(f"{item}/versions", params={"cursor": cursor})
                    ).status_code == 200
        for kind in ("draft", "published", "archived", "autosave"):
            assert (await deployment.get(f"{item}/versions", params={"kind": kind})
                    ).status_code == 200
        for path in ("/versions/5", "/draft", "/published", "/compare?from=4&to=5"):
            assert (await deployment.get(f"{item}{path}")).status_code == 200
    draft = (await deployment.get(f"{item}/draft")).json()
    saved = await deployment.client.put(
        f"{item}/draft", headers=deployment.auth("writer"),
        json={"lock_version": draft["lock_version"], "text": "An edit.", "body": {}})
    assert saved.status_code == 200, saved.text
    published = await deployment.client.post(
        f"{item}/versions/{saved.json()['number']}/publish", headers=deployment.auth("admin"))
    assert published.status_code == 200, published.text


async def _advice(deploy: Deploy, tmp_path: Path, *, optimised: bool) -> dict[str, Any]:
    deployment = await deploy(optimised=optimised)
    insight = deployment.state.insight  # the optimised app's own (one per engine)
    if insight is None:
        insight = instrument(deployment.state.engine, capture_plans=False)
    insight.slow_query_ms = 0.0  # every statement of the workload goes to the slow log
    try:
        await _workload(deployment)
        statements = insight.slow_queries()
    finally:
        if deployment.state.insight is None:
            insight.close()
    assert len(statements) > 20
    log = tmp_path / f"workload-{optimised}.json"
    log.write_text(json.dumps(statements))
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "from overdrive.cli import main; main()", "advise",
         deployment.database_url, "--from-log", str(log), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["analysed"] > 0
    return report


async def test_optimised_schema_needs_no_index(deploy: Deploy, tmp_path: Path) -> None:
    report = await _advice(deploy, tmp_path, optimised=True)
    assert report["recommendations"] == [], report["recommendations"]


async def test_plain_schema_gets_the_listing_index(deploy: Deploy, tmp_path: Path) -> None:
    """The same check can fail: without the app's indexes the advisor asks for one."""
    report = await _advice(deploy, tmp_path, optimised=False)
    tables = {item["table"].rsplit(".", 1)[-1] for item in report["recommendations"]}
    assert "versions" in tables, report
