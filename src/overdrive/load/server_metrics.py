"""The server's own view of a run, read from its Prometheus endpoint before and after.

When the target runs Overdrive, its `/metrics` carries the cache and database series;
the difference between a scrape at the start and one at the end gives the run's cache
hit ratio (overall and per tier) and database statements per request — figures the
client cannot see. A target without the endpoint, or without those series, simply has
no server-side section: the run is not failed for it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import defaultdict
from typing import Any

__all__ = ["MetricsSnapshot", "scrape", "server_view"]

CACHE_SERIES = "overdrive_cache_requests_total"
DB_SERIES = "overdrive_db_statements_total"
HTTP_SERIES = "overdrive_http_requests_total"

# (sample name, sorted label pairs) -> value
MetricsSnapshot = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, timeout: float = 3.0) -> MetricsSnapshot | None:
    """Counter samples from a Prometheus text endpoint, or None if it has none to give."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status != 200:
                return None
            text = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = list(text_string_to_metric_families(text))
    except ValueError:
        return None
    snapshot: MetricsSnapshot = {}
    for family in families:
        for sample in family.samples:
            snapshot[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return snapshot


def server_view(before: MetricsSnapshot, after: MetricsSnapshot) -> dict[str, Any] | None:
    """Cache hit ratio and DB statements per request over the run; None without those series."""
    delta: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for key, value in after.items():
        name, label_pairs = key
        if name in (CACHE_SERIES, DB_SERIES, HTTP_SERIES):
            delta[name].append((dict(label_pairs), value - before.get(key, 0.0)))
    view: dict[str, Any] = {}
    lookups = delta.get(CACHE_SERIES, [])
    if lookups:
        from overdrive.observe.measurements import hit_ratios, lookups_made

        tiers: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for labels, count in lookups:
            tiers[labels.get("tier", "all")][labels.get("result", "")] += count
        # One definition with the dashboard and the alert rules: lookups any tier served
        # over the lookups made (an L1 miss answered by L2 is one lookup, not two).
        ratios = hit_ratios(tiers)
        view["cache_lookups"] = lookups_made(tiers)
        view["cache_hit_ratio"] = ratios.pop("overall")
        view["cache_hit_ratio_by_tier"] = dict(sorted(ratios.items()))
    requests = sum(count for _, count in delta.get(HTTP_SERIES, []))
    if HTTP_SERIES in delta:
        view["server_requests"] = requests
    if DB_SERIES in delta:
        statements = sum(count for _, count in delta[DB_SERIES])
        view["db_statements"] = statements
        view["db_statements_per_request"] = statements / requests if requests else None
    return view or None
