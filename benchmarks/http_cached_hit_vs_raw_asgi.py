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
    best,
    compare,
    median,
    print_table,
)


def main() -> None:
    rounds, duration = arguments(__doc__)
    results = compare([
        Contender("raw ASGI (limit)", "raw_hello"),
        Contender("Overdrive cached hit (FastAPI)", "overdrive_cached", expect={"x-cache": "HIT"}),
    ], rounds=rounds, duration=duration)
    verdicts = []
    for label, pick in (("median", median), ("best", best)):
        limit, ours = (pick(rounds) for rounds in results.values())
        ratio = ours.requests_per_second / limit.requests_per_second
        verdicts.append(f"{label} rounds: Overdrive reaches {ratio:.0%} of the limit's "
                        f"requests/s (target >= 70%): {'MET' if ratio >= 0.7 else 'NOT MET'}")
    print_table(
        "Cached hit through Overdrive vs raw ASGI (uvicorn 1 worker, wrk 64 connections, 1 KiB)",
        results, "\n".join(verdicts),
    )


if __name__ == "__main__":
    main()
