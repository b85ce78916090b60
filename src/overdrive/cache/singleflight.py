"""One computation per key at a time inside a process; every other caller shares its result.

A caller that arrives while a computation for the same key is under way awaits that
computation's future instead of starting its own: a thousand concurrent misses cost one
loader run. The leader's outcome, value or exception, reaches every waiter. Cancelling
a waiter never cancels the shared computation, and cancelling the leader only hands the
exception to the waiters that are still there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Deduplicate concurrent calls per key.

    flight: SingleFlight[bytes] = SingleFlight()
    body = await flight.run(("GET", "/items"), fetch_items)
    """

    __slots__ = ("_inflight",)

    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[T]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._inflight

    async def run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        future = self._inflight.get(key)
        if future is not None:
            # shield: a cancelled waiter must not cancel the computation others share.
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await compute()
        except BaseException as error:
            if not future.done():
                future.set_exception(error)
                # Waiters that were cancelled meanwhile never read it: do not warn.
                future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
