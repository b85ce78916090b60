"""Claim: a cached hit through Overdrive serves at least 3x the requests/s of
fastapi-cache2's cached endpoint (in-memory backend), with a lower p99.

Both are FastAPI apps answering the same 1 KiB JSON from an in-process cache; uvicorn
(1 worker) and wrk (64 connections) pinned to separate cores; contenders alternate
round by round and the median round is compared.

    python benchmarks/http_cached_hit_vs_fastapi_cache2.py [--rounds 3] [--duration 10]
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
        Contender("fastapi-cache2 cached endpoint", "fastapi_cache2_cached",
                  expect={"x-fastapi-cache": "HIT"}),
        Contender("Overdrive cached hit", "overdrive_cached", expect={"x-cache": "HIT"}),
    ], rounds=rounds, duration=duration)
    verdicts = []
    for label, pick in (("median", median), ("best", best)):
        peer, ours = (pick(rounds) for rounds in results.values())
        ratio = ours.requests_per_second / peer.requests_per_second
        met = ratio >= 3 and ours.p99_ms < peer.p99_ms
        verdicts.append(
            f"{label} rounds: Overdrive serves {ratio:.1f}x fastapi-cache2's requests/s, p99 "
            f"{ours.p99_ms:.2f} ms vs {peer.p99_ms:.2f} ms (target >= 3x and lower p99): "
            f"{'MET' if met else 'NOT MET'}")
    print_table(
        "Cached hit: Overdrive vs fastapi-cache2 (uvicorn 1 worker, wrk 64 connections, 1 KiB)",
        results, "\n".join(verdicts),
    )


if __name__ == "__main__":
    main()
