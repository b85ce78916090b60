"""Concurrent L2 reads share round trips: the first goes at once, the rest ride one MGET.

A lone reader sends its GET straight away (no extra hop through a task). Readers that
arrive while that GET is in flight wait in a batch; when it returns, the batch leaves as
one MGET, and whoever arrives meanwhile forms the next. Under load this turns N commands
into a handful; with one caller it costs nothing. Readers of the same key share one
future, so a hot key is read once per round trip however many callers want it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

Fetch = Callable[[Sequence[str]], Awaitable[list[bytes | None]]]


class ReadBatcher:
    __slots__ = ("_fetch", "_flushing", "_inflight", "_pending", "_tasks")

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._pending: dict[str, asyncio.Future[bytes | None]] = {}
        self._inflight: dict[str, asyncio.Future[bytes | None]] = {}
        self._flushing = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> bytes | None:
        shared = self._inflight.get(key) or self._pending.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        if self._flushing:
            future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
            self._pending[key] = future
            return await asyncio.shield(future)
        return await self._lead(key)

    async def _lead(self, key: str) -> bytes | None:
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        self._flushing = True
        try:
            (value,) = await self._fetch((key,))
        except BaseException as error:
            _fail(future, error)
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]
            if self._pending:
                task = asyncio.ensure_future(self._drain())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self._flushing = False

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                self._inflight.update(batch)
                try:
                    values = await self._fetch(list(batch))
                except BaseException as error:
                    for future in batch.values():
                        _fail(future, error)
                    if isinstance(error, asyncio.CancelledError):
                        raise
                else:
                    for future, value in zip(batch.values(), values, strict=True):
                        if not future.done():
                            future.set_result(value)
                finally:
                    for key in batch:
                        self._inflight.pop(key, None)
        finally:
            self._flushing = False
            for future in self._pending.values():
                _fail(future, RuntimeError("read batcher stopped"))
            self._pending.clear()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            # Closing: every reader of the batch already got the error.
            with contextlib.suppress(BaseException):
                await task


def _fail(future: asyncio.Future[bytes | None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
        future.exception()  # mark retrieved: a waiter may have been cancelled meanwhile
