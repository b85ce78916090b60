"""The server's own figures over a run, from its Prometheus endpoint."""

from __future__ import annotations

import urllib.request

import pytest

from overdrive.load.server_metrics import scrape, server_view
from tests.servers import free_port


def test_view_from_two_snapshots() -> None:
    """Hit ratio per tier and overall, and statements per request, come from counter deltas."""
    cache = "overdrive_cache_requests_total"
    before = {
        (cache, (("result", "hit"), ("tier", "l1"))): 100.0,
        (cache, (("result", "miss"), ("tier", "l1"))): 50.0,
        ("overdrive_db_statements_total", ()): 1000.0,
        ("overdrive_http_requests_total", (("route", "/a"),)): 10.0,
    }
    after = {
        (cache, (("result", "hit"), ("tier", "l1"))): 180.0,
        (cache, (("result", "miss"), ("tier", "l1"))): 70.0,
        (cache, (("result", "hit"), ("tier", "l2"))): 10.0,
        (cache, (("result", "miss"), ("tier", "l2"))): 10.0,
        ("overdrive_db_statements_total", ()): 1150.0,
        ("overdrive_http_requests_total", (("route", "/a"),)): 60.0,
    }
    view = server_view(before, after)
    assert view is not None
    # 100 lookups (every one asks L1 first); L1 served 80, L2 10 of L1's 20 misses.
    assert view["cache_hit_ratio"] == pytest.approx(90 / 100)
    assert view["cache_lookups"] == 100
    assert view["cache_hit_ratio_by_tier"] == {"l1": pytest.approx(0.8), "l2": pytest.approx(0.5)}
    assert view["db_statements_per_request"] == pytest.approx(3.0)


def test_no_overdrive_series_means_no_view() -> None:
    """A target exposing other metrics only has no server-side section."""
    snapshot = {("process_cpu_seconds_total", ()): 1.0}
    assert server_view(snapshot, snapshot) is None


def test_scrape_reads_a_live_endpoint(fast_server: str) -> None:
    """The real app's counters arrive parsed; its requests move them in the known ratios."""
    before = scrape(f"{fast_server}/metrics")
    assert before is not None
    for _ in range(5):
        urllib.request.urlopen(f"{fast_server}/items/1").read()
    after = scrape(f"{fast_server}/metrics")
    assert after is not None
    view = server_view(before, after)
    assert view is not None
    assert view["cache_hit_ratio"] == pytest.approx(0.75)
    assert view["db_statements_per_request"] == pytest.approx(2.0)
    assert view["server_requests"] == 5


def test_scrape_degrades_to_nothing() -> None:
    """No server, a 404, or a non-Prometheus body all yield None rather than an error."""
    assert scrape(f"http://127.0.0.1:{free_port()}/metrics", timeout=0.5) is None


def test_scrape_of_a_page_that_is_not_metrics(fast_server: str) -> None:
    """A JSON page parses to no counters and so to no view."""
    snapshot = scrape(f"{fast_server}/items/1")
    assert snapshot is None or server_view(snapshot, snapshot) is None
