"""The HTML report renders in a real Chromium, offline, and a screenshot is kept as an artifact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.load.conftest import ROOT, SCENARIOS, run_load
from tests.servers import service_required

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def test_report_renders_in_chromium(fast_server: str, tmp_path: Path) -> None:
    """Four charts with drawn lines, the thresholds table, no network fetch; screenshot saved.

    The same run writes the JSON summary and the PNG charts, checked here too.
    """
    if not CHROMIUM.exists():
        if service_required():
            pytest.fail("chromium is missing and CI=true: run scripts/system-packages")
        pytest.skip("chromium is not installed (scripts/system-packages installs it)")
    from playwright.sync_api import sync_playwright

    report, summary, png = tmp_path / "report.html", tmp_path / "summary.json", tmp_path / "run.png"
    arguments = ["--host", fast_server, "--users", "3", "--duration", "3s", "-t", "p95<200ms"]
    arguments += ["-t", "route:/items/{id}:p99<1ms"]  # fails on purpose
    arguments += ["--report", str(report), "--json", str(summary), "--png", str(png)]
    result = run_load(str(SCENARIOS / "reader.py"), *arguments)
    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(summary.read_text())["verdict"] == "failed"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    artifacts = Path(os.environ.get("OVERDRIVE_ARTIFACTS", ROOT / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    fetched: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(report.as_uri())
            assert page.locator("svg.chart").count() == 4
            drawn = page.locator("svg.chart polyline").evaluate_all(
                "lines => lines.map(line => line.getBBox().width)"
            )
            assert len(drawn) >= 6
            assert all(width > 100 for width in drawn)
            rows = page.locator("table").first.locator("tr").all_inner_texts()
            assert any("p95<200ms" in row and "pass" in row for row in rows)
            assert any("route:/items/{id}:p99<1ms" in row and "FAIL" in row for row in rows)
            page.screenshot(path=str(artifacts / "load-report.png"), full_page=True)
        finally:
            browser.close()
    assert [url for url in fetched if not url.startswith("file:")] == []
    assert (artifacts / "load-report.png").stat().st_size > 10_000
