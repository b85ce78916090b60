"""A PNG of the run's charts for CI artifact viewers that do not render HTML.

matplotlib is optional (the `load-png` extra); asking for a PNG without it is a usage
error reported before the run starts, not after minutes of load.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from overdrive.errors import ConfigurationError

__all__ = ["require_png_support", "write_png"]


def require_png_support() -> None:
    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigurationError(
            "--png needs matplotlib: pip install 'overdrive[load-png]' (or use the HTML report)"
        )


def write_png(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    timeline = document["timeline"]
    ends = [point["start"] + point["span"] for point in timeline]
    figure, (throughput, latency, errors) = pyplot.subplots(3, 1, figsize=(9, 8), sharex=True)
    try:
        throughput.plot(ends, [p["requests"] / p["span"] if p["span"] else 0 for p in timeline])
        throughput.set_ylabel("requests/s")
        for label in ("p50", "p95", "p99"):
            latency.plot(ends, [p[label] for p in timeline], label=label)
        latency.set_ylabel("latency (ms)")
        latency.legend(loc="upper left")
        errors.plot(
            ends, [p["failures"] / p["span"] if p["span"] else 0 for p in timeline], color="#c23b3b"
        )
        errors.set_ylabel("failures/s")
        errors.set_xlabel("seconds")
        figure.suptitle(f"{document['scenario']} — {document['verdict']}")
        for axes in (throughput, latency, errors):
            axes.set_ylim(bottom=0)
            axes.grid(alpha=0.3)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
    finally:
        pyplot.close(figure)
