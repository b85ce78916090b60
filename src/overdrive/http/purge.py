"""CDN purgers behind one small interface, batched, retried, never blocking a request.

`Purger.purge(tags, soft=...)` only enqueues and returns at once; a background task
collects what arrives within `flush_interval`, sends it in batches of `batch_size` tags,
and retries failures with exponential backoff. `await purger.flush()` waits until the
queue is empty (tests, shutdown); failures past the last retry are logged and counted in
`purger.stats`, never raised into the request that asked for the purge.

`purge(tags, again_after=s)` purges now and once more `s` seconds later: the CDN may
refill from a process whose in-process cache has not yet dropped the old copy (see
`Cache.coherence_window`), and would then keep it until its TTL.

Tags go through `edge_tag`, the same transform the `Surrogate-Key`/`Cache-Tag` headers
used, so a purge names exactly what the CDN was told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from overdrive.errors import OverdriveError
from overdrive.http.edge import edge_tags

__all__ = [
    "CloudflarePurger",
    "FastlyPurger",
    "PurgeError",
    "Purger",
    "VarnishPurger",
    "WebhookPurger",
]

logger = logging.getLogger("overdrive.http.purge")


class PurgeError(OverdriveError):
    """A CDN refused or failed a purge request (raised inside the worker, then retried
    when `retryable`: 5xx and 429 are, a refused token or a bad request are not)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Purger:
    """Base class: subclasses implement `send(tags, soft)` for one batch."""

    batch_size = 256

    def __init__(
        self,
        *,
        flush_interval: float = 0.05,
        max_attempts: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.flush_interval = flush_interval
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None
        self._pending: dict[bool, dict[str, None]] = {False: {}, True: {}}
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._idle: asyncio.Event | None = None
        # Repeats waiting for their delay, with what they will purge: flush() waits for them.
        self._repeats: dict[asyncio.Task[None], tuple[list[str], bool]] = {}
        self.stats = {"purged_tags": 0, "requests": 0, "retries": 0, "failed_tags": 0,
                      "repeated_tags": 0}

    async def purge(self, tags: Iterable[str], *, soft: bool = False,
                    again_after: float = 0.0) -> None:
        """Queue tags for purging and return at once; with `again_after`, queue them once
        more that many seconds later."""
        names = edge_tags(tags)
        self._enqueue(names, soft)
        if again_after > 0 and names:
            task = asyncio.get_running_loop().create_task(
                self._repeat(names, soft, again_after))
            self._repeats[task] = (names, soft)
            task.add_done_callback(self._repeat_done)

    def _repeat_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():  # cancelled by its loop's end: flush() sends it later
            self._repeats.pop(task, None)

    async def _repeat(self, names: list[str], soft: bool, delay: float) -> None:
        await asyncio.sleep(delay)
        self.stats["repeated_tags"] += len(names)
        self._enqueue(names, soft)

    def _send_stranded(self, loop: asyncio.AbstractEventLoop) -> None:
        """What an event loop that ended (one `asyncio.run` per test, say) left unsent:
        repeats it cancelled or can no longer run, tags its worker never sent. Queued on
        this loop instead."""
        for task, (names, soft) in list(self._repeats.items()):
            if task.cancelled() or (task.get_loop() is not loop and task.get_loop().is_closed()):
                self._repeats.pop(task, None)
                self._enqueue(names, soft)
        if any(self._pending.values()) and not self._worker_runs_on(loop):
            self._enqueue([], False)

    def _worker_runs_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        worker = self._worker
        return worker is not None and not worker.done() and worker.get_loop() is loop

    def _enqueue(self, tags: list[str], soft: bool) -> None:
        queue = self._pending[soft]
        for tag in tags:
            queue[tag] = None
        loop = asyncio.get_running_loop()
        if not self._worker_runs_on(loop):
            self._wakeup = asyncio.Event()
            self._idle = asyncio.Event()
            self._worker = loop.create_task(self._run())
        assert self._wakeup is not None
        assert self._idle is not None
        self._idle.clear()
        self._wakeup.set()

    async def flush(self) -> None:
        """Wait until everything queued so far has been sent (or given up on), including
        the repeats asked for so far."""
        loop = asyncio.get_running_loop()
        waiting = [task for task in self._repeats if task.get_loop() is loop]
        if waiting:
            await asyncio.wait(waiting)
        self._send_stranded(loop)
        if self._idle is None or self._worker is None or self._worker.get_loop() is not loop:
            return
        await self._idle.wait()

    async def close(self) -> None:
        """Flush (repeats included: at most their delay, the cache's coherence window, so
        another process still lagging is covered), stop the worker and close the HTTP
        client if this purger made it."""
        await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._owns_client:
            await self.client.aclose()

    async def _run(self) -> None:
        assert self._wakeup is not None
        assert self._idle is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(self.flush_interval)  # gather a burst into one request
            for soft in (False, True):
                while self._pending[soft]:
                    tags = list(self._pending[soft])[: self.batch_size]
                    for tag in tags:
                        del self._pending[soft][tag]
                    await self._send_with_retries(tags, soft)
            if not self._wakeup.is_set():
                self._idle.set()

    async def _send_with_retries(self, tags: list[str], soft: bool) -> None:
        delay = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            self.stats["requests"] += 1
            try:
                await self.send(tags, soft)
            except (httpx.HTTPError, PurgeError) as error:
                retryable = not isinstance(error, PurgeError) or error.retryable
                if attempt == self.max_attempts or not retryable:
                    self.stats["failed_tags"] += len(tags)
                    logger.error("purge of %d tags failed after %d attempts: %s",
                                 len(tags), attempt, error)
                    return
                self.stats["retries"] += 1
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, self.max_backoff)
            else:
                self.stats["purged_tags"] += len(tags)
                return

    async def send(self, tags: list[str], soft: bool) -> None:
        raise NotImplementedError

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status >= 300:
            raise PurgeError(f"{type(self).__name__}: HTTP {status}: {response.text[:200]}",
                             retryable=status >= 500 or status == 429)


class VarnishPurger(Purger):
    """Varnish with vmod-xkey, through the `PURGE` method the shipped VCL defines.

    ```python
    VarnishPurger("http://127.0.0.1:6081")
    ```
    """

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(**options)
        self.url = url

    async def send(self, tags: list[str], soft: bool) -> None:
        header = "xkey-softpurge" if soft else "xkey-purge"
        response = await self.client.request("PURGE", self.url, headers={header: " ".join(tags)})
        self._check(response)


class FastlyPurger(Purger):
    """Fastly purge by surrogate key, up to 256 keys per request; soft purge marks stale."""

    def __init__(self, service_id: str, api_token: str, *,
                 api_url: str = "https://api.fastly.com", **options: Any) -> None:
        super().__init__(**options)
        self.url = f"{api_url.rstrip('/')}/service/{service_id}/purge"
        self.api_token = api_token

    async def send(self, tags: list[str], soft: bool) -> None:
        headers = {"Fastly-Key": self.api_token, "Accept": "application/json"}
        if soft:
            headers["Fastly-Soft-Purge"] = "1"
        response = await self.client.post(self.url, headers=headers,
                                          json={"surrogate_keys": tags})
        self._check(response)


class CloudflarePurger(Purger):
    """Cloudflare purge by Cache-Tag (30 tags per API call)."""

    batch_size = 30

    def __init__(self, zone_id: str, api_token: str, *,
                 api_url: str = "https://api.cloudflare.com/client/v4",
                 **options: Any) -> None:
        super().__init__(**options)
        self.url = f"{api_url.rstrip('/')}/zones/{zone_id}/purge_cache"
        self.api_token = api_token

    async def send(self, tags: list[str], soft: bool) -> None:
        # Cloudflare has no soft purge: a soft request purges for real (correct, just colder).
        response = await self.client.post(
            self.url, headers={"Authorization": f"Bearer {self.api_token}"}, json={"tags": tags}
        )
        self._check(response)


class WebhookPurger(Purger):
    """POSTs `{"tags": [...], "soft": bool}` to any URL, for CDNs without a purger here."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        self.url = url
        self.headers = dict(headers or {})

    async def send(self, tags: list[str], soft: bool) -> None:
        response = await self.client.post(self.url, headers=self.headers,
                                          json={"tags": tags, "soft": soft})
        self._check(response)
