"""The retention job: prunes old autosaves by policy, one runner at a time.

Autosaves pile up (an editor saves every few seconds); the policy keeps the newest
`keep_latest` of each item and anything younger than `max_age`, and deletes the rest.
With Redis configured, a `RedisLease` makes the job single-runner across every process
of the deployment; without it, a process-local lock does the same for the one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from examples.versioning.caching import Caching
from examples.versioning.items import ItemRef
from examples.versioning.lease import RedisLease
from examples.versioning.schema import ContentItem, Version

__all__ = ["RetentionJob", "RetentionPolicy", "RetentionRun"]

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime.datetime]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_latest: int = 100
    max_age: datetime.timedelta = datetime.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class RetentionRun:
    ran: bool
    """False when another runner held the lease, so this one did nothing."""
    pruned: int = 0
    items: int = 0


class RetentionJob:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        caching: Caching,
        policy: RetentionPolicy,
        *,
        lease: Callable[[], RedisLease] | None = None,
        clock: Clock = _utc_now,
    ) -> None:
        self._sessions = sessions
        self._caching = caching
        self.policy = policy
        self._lease = lease
        self._clock = clock
        self._local = asyncio.Lock()

    async def run_once(self) -> RetentionRun:
        """Prune now, unless another runner is already at it (then `ran` is False)."""
        if self._local.locked():
            return RetentionRun(ran=False)
        async with self._local:
            if self._lease is None:
                return await self._prune(None)
            lease = self._lease()
            if not await lease.acquire():
                return RetentionRun(ran=False)
            try:
                return await self._prune(lease)
            finally:
                await lease.release()

    async def _prune(self, lease: RedisLease | None) -> RetentionRun:
        cutoff_time = self._clock() - self.policy.max_age
        async with self._sessions() as session:
            # Items, not DISTINCT over versions: each item is then one index probe.
            items = [
                ItemRef(int(row[0]), f"{row[1]}/{row[2]}")
                for row in await session.execute(
                    select(
                        ContentItem.id, ContentItem.content_type, ContentItem.content_id
                    ).order_by(ContentItem.id)
                )
            ]
        pruned = 0
        for item in items:
            if lease is not None and not await lease.renew():
                logger.warning("retention lease lost; stopping so two runners never overlap")
                break
            removed = await self._prune_item(item.id, cutoff_time)
            if removed:
                pruned += removed
                await self._caching.invalidate(item.tag("versions"), item.tag("autosaves"))
        return RetentionRun(ran=True, pruned=pruned, items=len(items))

    async def _prune_item(self, item_id: int, cutoff_time: datetime.datetime) -> int:
        async with self._sessions() as session, session.begin():
            # Take the item's row lock first, as autosave and publish do: one order, no deadlock.
            await session.execute(
                update(ContentItem)
                .where(ContentItem.id == item_id)
                .values(next_number=ContentItem.next_number)
            )
            keep_from = (
                await session.execute(
                    select(Version.number)
                    .where(Version.content_item_id == item_id, Version.kind == "autosave")
                    .order_by(Version.number.desc())
                    .offset(self.policy.keep_latest - 1 if self.policy.keep_latest else 0)
                    .limit(1)
                )
            ).scalar_one_or_none()
            if keep_from is None:
                return 0
            condition = [
                Version.content_item_id == item_id,
                Version.kind == "autosave",
                Version.created_at < cutoff_time,
            ]
            if self.policy.keep_latest:
                condition.append(Version.number < keep_from)
            else:
                condition.append(Version.number <= keep_from)
            result = await session.execute(delete(Version).where(*condition))
            return int(getattr(result, "rowcount", 0) or 0)


class RetentionScheduler:
    """Runs the job every `interval` seconds in the background of a process."""

    def __init__(self, job: RetentionJob, interval: float) -> None:
        self._job = job
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="versioning-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                run = await self._job.run_once()
            except Exception:
                logger.exception("retention job failed; retrying at the next interval")
                continue
            if run.ran:
                logger.info("retention pruned %d autosaves over %d items", run.pruned, run.items)
