"""Claim: a cached hit through Overdrive reaches at least 70% of the requests/s of a raw
ASGI app sending the same 1 KiB JSON (the limit: no framework, no middleware, no cache).

uvicorn (1 worker) and wrk (64 connections) pinned to separate cores; contenders
alternate round by round and the median round is compared.

    python benchmarks/http_cached_hit_vs_raw_asgi.py [--rounds 3] [--duration 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.http_runner import (
    Contender,
    arguments,
    compare,
    print_table,
    share_verdicts,
)


def main() -> None:
    rounds, duration = arguments(__doc__)
    results = compare([
        Contender("raw ASGI (limit)", "raw_hello"),
        Contender("Overdrive cached hit (FastAPI)", "overdrive_cached", expect={"x-cache": "HIT"}),
    ], rounds=rounds, duration=duration)
    verdicts = share_verdicts(results, 0.7, "Overdrive reaches {share} of the limit's requests/s")
    print_table(
        "Cached hit through Overdrive vs raw ASGI (uvicorn 1 worker, wrk 64 connections, 1 KiB)",
        results, verdicts,
    )


if __name__ == "__main__":
    main()
