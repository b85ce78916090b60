"""The dashboard in a real Chromium: charts with real numbers and a firing alert, screenshotted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.observe.test_multiprocess import wait_up
from tests.servers import free_port, service_required

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def light_load(url: str, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=5) as client:
        item = 0
        while not stop.is_set():
            item += 1
            client.get(f"/items/{item}")
            time.sleep(0.01)


@pytest.mark.slow
def test_dashboard_draws_live_charts_and_a_firing_alert(tmp_path: Path) -> None:
    """Under light load: numeric tiles, three latency lines, target lines, hit ratio, alerts."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if service_required():
            pytest.fail("chromium is missing: scripts/system-packages installs it")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tests.observe.workerapp:create",
         "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    load = threading.Thread(target=light_load, args=(url, stop), daemon=True)
    try:
        wait_up(url + "/healthz")
        load.start()
        time.sleep(2.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(url + "/_overdrive")
            page.wait_for_selector("body[data-ready='1']", timeout=15_000)
            page.wait_for_selector(".alert[data-state='firing']", timeout=15_000)
            page.wait_for_function(  # hit ratio needs two readings 5 s apart
                "Number(document.getElementById('chart-cache').dataset.points) >= 1",
                timeout=20_000)
            rate = float(page.inner_text("#tile-rate"))
            assert rate > 1
            assert page.inner_text("#tile-p95").endswith("ms")
            lines = page.locator("#chart-latency path.line")
            assert lines.count() == 3
            latest = [float(lines.nth(i).get_attribute("data-last") or "nan") for i in range(3)]
            assert 0 < latest[0] <= latest[1] <= latest[2]
            assert int(page.get_attribute("#chart-rate", "data-points") or 0) >= 1
            target = page.locator("#chart-latency line.target")
            assert target.get_attribute("data-value") == "0.1"
            assert "/items/{item_id}" in page.inner_text("#routes")
            assert "TrafficSeen" in page.inner_text("#alerts")
            hits = page.locator("#chart-cache path.series-hits").get_attribute("data-last")
            assert 0.7 < float(hits or "nan") < 0.9  # the app's cache hits 4 keys in 5
            artifacts = ROOT / "artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
            browser.close()
    finally:
        stop.set()
        load.join(timeout=10)
        server.terminate()
        server.wait(timeout=10)
    assert (ROOT / "artifacts" / "dashboard.png").stat().st_size > 10_000
