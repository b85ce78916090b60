"""The optimised application behind Overdrive's own HTTP layer, with its metrics.

`install_overdrive` is what a user of Overdrive writes: one `Overdrive(...)` sharing the
application's `Cache` and engine, writes invalidating through `od.invalidate`, and a
Varnish purger when one is configured; `observe=True` puts `/metrics`, the dashboard and
the health probes outermost, sharing the same cache and query insight, so requests the
response cache answers are timed and counted like the others.
"""

from __future__ import annotations

from fastapi import FastAPI

from examples.versioning.caching import TieredCaching
from examples.versioning.runtime import Runtime
from overdrive import Overdrive, VarnishPurger
from overdrive.db import instrument

__all__ = ["install_overdrive"]


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
        observe=True,
    )
    caching.invalidator = od.invalidate
    state.overdrive = od
    state.insight = insight
    state.observability = od.observability
    return od
