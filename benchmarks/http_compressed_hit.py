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
    compare,
    print_table,
    share_verdicts,
)


def main() -> None:
    rounds, duration = arguments(__doc__)
    results = compare([
        Contender("uncompressed cached hit", "overdrive_cached", expect={"x-cache": "HIT"}),
        Contender("br-compressed cached hit", "overdrive_compressed",
                  headers={"Accept-Encoding": "br"},
                  expect={"x-cache": "HIT", "content-encoding": "br"}),
    ], rounds=rounds, duration=duration)
    verdicts = share_verdicts(results, 0.9, "compressed hits run at {share} of uncompressed hits")
    print_table(
        "Compressed vs uncompressed cached hit (uvicorn 1 worker, wrk 64 connections, 1 KiB)",
        results, verdicts,
    )


if __name__ == "__main__":
    main()
