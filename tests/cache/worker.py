"""A cache in its own OS process, driven line by line over stdin/stdout (JSON).

python -m tests.cache.worker URL NAMESPACE CONSISTENCY LEASE
{"op": "get", "key": "k"}                     -> {"value": ...}
{"op": "set", "key": "k", "value": 1, "tags": ["t"]}
{"op": "load", "key": "k", "counter": "c", "delay": 0.3, "tags": []}
    get_or_set whose loader INCRs the Redis key `counter` (counting runs across processes)
{"op": "invalidate", "tags": ["t"]}
{"op": "stats"}
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import redis.asyncio as aioredis

from overdrive import Cache


async def main(url: str, namespace: str, consistency: str, lease: float) -> None:
    cache = Cache(
        url,
        namespace=namespace,
        consistency=consistency,  # type: ignore[arg-type]
        lease=lease,
        heartbeat_interval=lease / 8,
    )
    counter_client = aioredis.Redis.from_url(url)
    await cache.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while line := await reader.readline():
        command = json.loads(line)
        result: dict[str, Any] = {}
        op = command["op"]
        if op == "get":
            result["value"] = await cache.get(command["key"])
        elif op == "set":
            await cache.set(command["key"], command["value"], ttl=300, tags=command["tags"])
        elif op == "load":

            async def loader(command: dict[str, Any] = command) -> int:
                runs = int(await counter_client.incr(command["counter"]))
                await asyncio.sleep(command["delay"])
                return runs

            result["value"] = await cache.get_or_set(
                command["key"], loader, ttl=300, tags=command["tags"]
            )
        elif op == "invalidate":
            await cache.invalidate(*command["tags"])
        elif op == "stats":
            result["stats"] = cache.stats()
        print(json.dumps(result), flush=True)
    await cache.close()
    await counter_client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
