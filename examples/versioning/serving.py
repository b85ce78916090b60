"""The optimised application behind Overdrive's own HTTP layer, with its metrics.

`install_overdrive` is what a user of Overdrive writes: one `Overdrive(...)` sharing the
application's `Cache` and engine, writes invalidating through `od.invalidate`, and a
Varnish purger when one is configured. `observe` puts `/metrics` and the dashboard
around it, sharing the same cache and query insight.
"""

from __future__ import annotations

from fastapi import FastAPI

from examples.versioning.caching import TieredCaching
from examples.versioning.runtime import Runtime
from overdrive import Overdrive, VarnishPurger
from overdrive.db import QueryInsight, instrument
from overdrive.observe import Observability

__all__ = ["install_overdrive", "observe"]


def install_overdrive(app: FastAPI, state: Runtime, caching: TieredCaching) -> Overdrive:
    """Response cache (hits answered before routing), compression, Server-Timing with the
    statements of each request, and CDN purges; every write of the app goes through
    `od.invalidate`, so L1 in every process, L2 and the edge all drop the same tags."""
    varnish_url = state.settings.varnish_url
    insight = instrument(state.engine)
    od = Overdrive(
        app,
        cache=caching.cache,
        db=insight,
        compress=True,
        cdn=VarnishPurger(varnish_url) if varnish_url else None,
    )
    caching.invalidator = od.invalidate
    state.overdrive = od
    state.insight = insight
    state.observability = observe(app, od, insight)
    return od


def observe(app: FastAPI, od: Overdrive, insight: QueryInsight) -> Observability:
    """`/metrics`, `/_overdrive`, `/healthz` around Overdrive's stack, so that requests the
    response cache answers are timed and counted like the others.

    Overdrive places its stack in front of the application's own middleware; until it
    takes the observability layer itself, this wraps that stack where it is installed.
    """
    if od.app is None:
        raise RuntimeError("observe() needs Overdrive in its default (outermost) placement")
    observability = Observability(od.app, cache=od.cache, insight=insight)
    app.__dict__["_overdrive_stack"] = observability
    return observability
