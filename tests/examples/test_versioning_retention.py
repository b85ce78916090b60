"""The retention job: prunes old autosaves by policy, one runner across processes."""

from __future__ import annotations

import asyncio
import datetime

import redis.asyncio
from sqlalchemy import func, select

from examples.versioning import RetentionJob, RetentionPolicy
from examples.versioning.lease import RedisLease
from examples.versioning.schema import Version
from tests.examples.conftest import Deploy, Deployment

_FAR_FUTURE = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


async def _kinds(deployment: Deployment, item_id: int = 1) -> dict[str, int]:
    async with deployment.state.sessions() as session:
        rows = await session.execute(
            select(Version.kind, func.count())
            .where(Version.content_item_id == item_id)
            .group_by(Version.kind)
        )
    return {str(kind): int(count) for kind, count in rows.all()}


def _job(
    deployment: Deployment,
    policy: RetentionPolicy,
    *,
    now: datetime.datetime = _FAR_FUTURE,
    lease: RedisLease | None = None,
) -> RetentionJob:
    state = deployment.state
    return RetentionJob(
        state.sessions,
        state.caching,
        policy,
        lease=(lambda: lease) if lease is not None else None,
        clock=lambda: now,
    )


async def test_policy_keeps_the_newest_autosaves_and_other_kinds(deployment: Deployment) -> None:
    """Old autosaves beyond keep_latest go; drafts, published and archived versions stay."""
    before = await _kinds(deployment)
    run = await _job(deployment, RetentionPolicy(keep_latest=5)).run_once()
    after = await _kinds(deployment)
    assert run.ran
    assert after["autosave"] == 5
    assert {kind: after[kind] for kind in ("draft", "published", "archived")} == {
        kind: before[kind] for kind in ("draft", "published", "archived")
    }
    small_items = 2 * (27 - 5)  # each small item: 30 versions, 27 autosaves
    assert run.pruned == (before["autosave"] - 5) + small_items
    listing = await deployment.get(f"{deployment.item()}/versions", params={"kind": "autosave"})
    assert [entry["number"] for entry in listing.json()["items"]] == [119, 118, 117, 116, 115]


async def test_policy_keeps_young_autosaves(deployment: Deployment) -> None:
    """Autosaves younger than max_age are kept whatever keep_latest says."""
    seeded_start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    # The large item's history spans about 60 days from its start: cut in the middle.
    job = _job(
        deployment,
        RetentionPolicy(keep_latest=0, max_age=datetime.timedelta(days=30)),
        now=seeded_start + datetime.timedelta(days=60),
    )
    before = await _kinds(deployment)
    await job.run_once()
    after = await _kinds(deployment)
    assert 0 < after["autosave"] < before["autosave"]
    async with deployment.state.sessions() as session:
        oldest = await session.scalar(
            select(func.min(Version.created_at)).where(
                Version.content_item_id == 1, Version.kind == "autosave"
            )
        )
    assert oldest is not None
    assert oldest.replace(tzinfo=datetime.UTC) >= seeded_start + datetime.timedelta(days=30)


async def test_pruning_invalidates_cached_listings(deployment: Deployment) -> None:
    """A cached autosave listing and version are gone after the job prunes them."""
    listing = f"{deployment.item()}/versions"
    cached = await deployment.get(listing, params={"kind": "autosave", "limit": 100})
    assert len(cached.json()["items"]) == 100
    assert (await deployment.get(f"{deployment.item()}/versions/3")).status_code == 200
    await _job(deployment, RetentionPolicy(keep_latest=5)).run_once()
    fresh = await deployment.get(listing, params={"kind": "autosave", "limit": 100})
    assert len(fresh.json()["items"]) == 5
    assert (await deployment.get(f"{deployment.item()}/versions/3")).status_code == 404


async def test_two_contenders_one_runner(deploy: Deploy, redis_url: str, namespace: str) -> None:
    """Two jobs with their own Redis connections start together: exactly one prunes."""
    deployment = await deploy(redis_url=redis_url)
    clients = [redis.asyncio.Redis.from_url(redis_url) for _ in range(2)]
    try:
        key = f"{namespace}:retention-lease"
        jobs = [
            _job(deployment, RetentionPolicy(keep_latest=5), lease=RedisLease(client, key))
            for client in clients
        ]
        runs = await asyncio.gather(*(job.run_once() for job in jobs))
        assert sorted(run.ran for run in runs) == [False, True]
        assert sum(run.pruned for run in runs) > 0
        assert await clients[0].exists(key) == 0  # released after the run
        again = await jobs[0].run_once()
        assert again.ran
        assert again.pruned == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_a_lease_held_elsewhere_blocks_and_is_not_released(
    deploy: Deploy, redis_url: str, namespace: str
) -> None:
    """While another process holds the lease the job skips, and never deletes that lease."""
    deployment = await deploy()
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        key = f"{namespace}:retention-lease"
        other = RedisLease(client, key, ttl_ms=10_000)
        assert await other.acquire()
        ours = RedisLease(client, key)
        run = await _job(deployment, RetentionPolicy(keep_latest=5), lease=ours).run_once()
        assert not run.ran
        assert not await ours.release()
        assert await client.get(key) == other.token.encode()
        assert await other.release()
    finally:
        await client.aclose()


async def test_app_wires_the_lease_when_redis_is_configured(
    deploy: Deploy, redis_url: str, namespace: str
) -> None:
    """The application's own job takes the Redis lease: held elsewhere, it does not run."""
    deployment = await deploy(redis_url=redis_url)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        holder = RedisLease(client, f"{namespace}:retention-lease")
        assert await holder.acquire()
        assert not (await deployment.state.retention.run_once()).ran
        await holder.release()
        assert (await deployment.state.retention.run_once()).ran
    finally:
        await client.aclose()


async def test_scheduler_runs_the_job_in_the_background(deploy: Deploy) -> None:
    """With retention_interval set, the application prunes on its own."""
    deployment = await deploy(
        retention=RetentionPolicy(keep_latest=3, max_age=datetime.timedelta(0)),
        retention_interval=0.05,
    )
    for _ in range(100):
        if (await _kinds(deployment)).get("autosave") == 3:
            break
        await asyncio.sleep(0.05)
    assert (await _kinds(deployment))["autosave"] == 3
