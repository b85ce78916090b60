"""A scenario whose first iteration freezes the load generator for half a second.

It stands for a GC pause or a CPU-starved client: iterations due during the freeze
start late, and an honest open model charges that delay to their latency.
"""

import time

from locust import FastHttpUser, task

FROZEN: list[bool] = []


class Stalling(FastHttpUser):
    @task
    def item(self) -> None:
        if not FROZEN:
            FROZEN.append(True)
            end = time.perf_counter() + 0.5
            while time.perf_counter() < end:  # blocks every greenlet, the scheduler too
                pass
        self.client.get("/items/1", name="/items/{id}")
