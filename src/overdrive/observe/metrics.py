"""The Prometheus metrics Overdrive exposes, defined once, in one registry per owner.

Names follow Prometheus conventions (`_total`, `_seconds`, `_bytes`); every gauge says how
it aggregates across workers in multi-process mode (`livesum`, `livemax`), so a scrape of
any worker reports the deployment, not itself.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["LATENCY_BUCKETS", "CacheMetrics", "DatabaseMetrics", "HttpMetrics",
           "OverdriveMetrics", "ProcessMetrics"]

# 1 ms to 10 s: an API's useful range, dense where SLOs usually sit (50 ms - 1 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """RED metrics per route template."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "overdrive_http_requests", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=registry)
        self.duration = Histogram(
            "overdrive_http_request_duration_seconds",
            "HTTP request latency, from first byte in to last byte out.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.in_flight = Gauge(
            "overdrive_http_requests_in_flight", "HTTP requests being handled now.",
            registry=registry, multiprocess_mode="livesum")


class CacheMetrics:
    """The tiered cache's counters, copied from `cache.stats()` as deltas."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "overdrive_cache_requests",
            "Cache lookups by tier and result (hit, miss, stale, error).",
            ["tier", "result"], registry=registry)
        self.evictions = Counter(
            "overdrive_cache_evictions", "Entries evicted to stay within the byte bound.",
            ["tier"], registry=registry)
        self.loader_runs = Counter(
            "overdrive_cache_loader_runs", "Loader (origin) computations.", registry=registry)
        self.loader_seconds = Counter(
            "overdrive_cache_loader_duration_seconds", "Total seconds spent in loaders.",
            registry=registry)
        self.stale_served = Counter(
            "overdrive_cache_stale_served",
            "Reads answered with a stale copy (counted in hits too).",
            registry=registry)
        self.invalidations = Counter(
            "overdrive_cache_invalidations", "Tag invalidations issued.", registry=registry)
        self.invalidation_latency = Gauge(
            "overdrive_cache_invalidation_latency_seconds",
            "Invalidation fan-out latency, sent elsewhere to applied here, by percentile.",
            ["percentile"], registry=registry, multiprocess_mode="livemax")
        self.bytes_used = Gauge(
            "overdrive_cache_bytes_used", "Bytes held by the in-process tier.", ["tier"],
            registry=registry, multiprocess_mode="livesum")
        self.bytes_max = Gauge(
            "overdrive_cache_bytes_max", "Byte bound of the in-process tier.", ["tier"],
            registry=registry, multiprocess_mode="livesum")
        self.circuit_open = Gauge(
            "overdrive_cache_circuit_open", "1 when the L2 circuit breaker is open.",
            registry=registry, multiprocess_mode="livemax")


class DatabaseMetrics:
    """Query insight's counters, copied from `insight.stats()` as deltas."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.statements = Counter(
            "overdrive_db_statements", "SQL statements executed.", registry=registry)
        self.statement_duration = Histogram(
            "overdrive_db_statement_duration_seconds", "SQL statement latency.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.slow_statements = Counter(
            "overdrive_db_slow_statements", "Statements slower than the slow-query threshold.",
            registry=registry)
        self.n_plus_one = Counter(
            "overdrive_db_n_plus_one_detections", "N+1 query patterns detected.",
            registry=registry)
        self.pool_in_use = Gauge(
            "overdrive_db_pool_connections_in_use", "Pool connections checked out.",
            registry=registry, multiprocess_mode="livesum")
        self.pool_size = Gauge(
            "overdrive_db_pool_size", "Pool connections open.", registry=registry,
            multiprocess_mode="livesum")
        self.pool_waits = Counter(
            "overdrive_db_pool_waits", "Checkouts that had to wait for a connection.",
            registry=registry)
        self.pool_wait_seconds = Counter(
            "overdrive_db_pool_wait_seconds", "Total seconds spent waiting for a connection.",
            registry=registry)
        self.pool_overflow = Gauge(
            "overdrive_db_pool_overflow", "Connections open beyond the pool size.",
            registry=registry, multiprocess_mode="livesum")


class ProcessMetrics:
    """Per-worker resource use, summed (memory) or maxed (lag) across workers."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.resident_memory = Gauge(
            "overdrive_process_resident_memory_bytes", "Resident memory of the workers.",
            registry=registry, multiprocess_mode="livesum")
        self.cpu_seconds = Gauge(
            "overdrive_process_cpu_seconds", "CPU seconds used by the live workers.",
            registry=registry, multiprocess_mode="livesum")
        self.event_loop_lag = Gauge(
            "overdrive_event_loop_lag_seconds",
            "Largest event-loop lag among workers, last sample.",
            registry=registry, multiprocess_mode="livemax")


class OverdriveMetrics:
    """All of Overdrive's metrics in `registry` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.http = HttpMetrics(self.registry)
        self.cache = CacheMetrics(self.registry)
        self.db = DatabaseMetrics(self.registry)
        self.process = ProcessMetrics(self.registry)
