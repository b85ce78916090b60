"""Claim: with compression on, a cached compressed hit keeps at least 90% of the
requests/s of an uncompressed cached hit, because cached bodies are compressed once per
encoding when stored and never again.

Same FastAPI app and 1 KiB JSON; one contender asks `Accept-Encoding: br` from the app
with compression on, the other asks nothing from the app with compression off.

    python benchmarks/http_compressed_hit.py [--rounds 3] [--duration 10]
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
        Contender("uncompressed cached hit", "overdrive_cached", expect={"x-cache": "HIT"}),
        Contender("br-compressed cached hit", "overdrive_compressed",
                  headers={"Accept-Encoding": "br"},
                  expect={"x-cache": "HIT", "content-encoding": "br"}),
    ], rounds=rounds, duration=duration)
    verdicts = []
    for label, pick in (("median", median), ("best", best)):
        plain, compressed = (pick(rounds) for rounds in results.values())
        ratio = compressed.requests_per_second / plain.requests_per_second
        verdicts.append(f"{label} rounds: compressed hits run at {ratio:.0%} of uncompressed "
                        f"hits (target >= 90%): {'MET' if ratio >= 0.9 else 'NOT MET'}")
    print_table(
        "Compressed vs uncompressed cached hit (uvicorn 1 worker, wrk 64 connections, 1 KiB)",
        results, "\n".join(verdicts),
    )


if __name__ == "__main__":
    main()
