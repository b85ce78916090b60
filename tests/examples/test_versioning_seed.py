"""Seeding, the schema in each mode, and the deterministic document writer."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from examples.versioning import SeedSizes, compression_report
from examples.versioning.schema import ContentItem, Version
from examples.versioning.texts import DocumentWriter
from tests.examples.conftest import SMALL, Deploy


async def _indexes(deployment: Any) -> dict[str, set[str]]:
    schema = deployment.settings.db_schema

    def collect(connection: Any) -> dict[str, set[str]]:
        inspector = inspect(connection)
        return {
            table: {index["name"] for index in inspector.get_indexes(table, schema=schema)}
            for table in ("versions", "content_items", "api_tokens", "users", "preview_tokens")
        }

    async with deployment.state.engine.connect() as connection:
        found: dict[str, set[str]] = await connection.run_sync(collect)
    return found


async def test_seed_writes_the_sizes_asked_for(deploy: Deploy) -> None:
    """Items, versions per item, body sizes and kinds follow SeedSizes; progress reaches 100%."""
    calls: list[tuple[int, int]] = []
    deployment = await deploy(sizes=None)
    from examples.versioning import seed

    sizes = SeedSizes(
        items=4,
        large_items=1,
        large_versions=1_100,
        versions=12,
        publish_every=5,
        min_body_bytes=2_000,
        max_body_bytes=20_000,
    )
    report = await seed(deployment.state.engine, sizes, progress=lambda *a: calls.append(a))
    assert report.versions == sizes.total_versions == 1_100 + 3 * 12
    assert calls[-1] == (sizes.total_versions, sizes.total_versions)
    assert len(calls) >= 3  # batched: several progress reports for the large item
    assert set(report.tokens) == {"admin", "editor", "writer", "viewer"}
    async with deployment.state.sessions() as session:
        counts = dict(
            (
                await session.execute(
                    select(ContentItem.content_id, func.count(Version.id))
                    .join(Version, Version.content_item_id == ContentItem.id)
                    .group_by(ContentItem.content_id)
                )
            ).all()
        )
        sizes_seen = (
            await session.execute(
                select(func.min(Version.text_bytes), func.max(Version.text_bytes))
            )
        ).one()
        drafts = await session.scalar(select(func.count()).where(Version.kind == "draft"))
        published = await session.scalar(select(func.count()).where(Version.kind == "published"))
    assert sorted(counts.values()) == [12, 12, 12, 1_100]
    assert drafts == published == 4
    # Edits keep each history within about a paragraph of a size drawn between the bounds.
    assert sizes_seen[0] >= 1_000
    assert sizes_seen[1] <= 22_000


async def test_optimised_schema_has_the_workload_indexes(deploy: Deploy) -> None:
    """Optimised mode creates the listing, kind and partial indexes; plain mode none."""
    optimised = await _indexes(await deploy(sizes=None))
    assert {
        "ix_versions_listing",
        "ix_versions_kind_listing",
        "uq_versions_current_draft",
        "uq_versions_published",
    } <= optimised["versions"]
    assert "uq_content_items_address" in optimised["content_items"]


async def test_plain_schema_has_primary_keys_only(deploy: Deploy) -> None:
    """Plain mode has no index beyond the primary keys."""
    plain = await _indexes(await deploy(sizes=None, optimised=False))
    assert all(not names for names in plain.values()), plain


async def test_plain_mode_answers_the_same_api(deploy: Deploy) -> None:
    """The plain application serves the same endpoints with no cache at all."""
    deployment = await deploy(optimised=False)
    draft = (await deployment.get(f"{deployment.item()}/draft")).json()
    saved = await deployment.client.put(
        f"{deployment.item()}/draft",
        headers=deployment.auth(),
        json={"lock_version": draft["lock_version"], "text": "plain"},
    )
    assert saved.status_code == 200
    diff = await deployment.get(
        f"{deployment.item()}/compare",
        params={"from": draft["number"], "to": saved.json()["number"]},
    )
    assert diff.status_code == 200
    assert deployment.state.caching.stats() == {}


async def test_archived_bodies_are_compressed(deployment: Any) -> None:
    """Archived texts are stored zstd-compressed at a ratio the report states."""
    async with deployment.state.sessions() as session:
        report = await compression_report(session)
        plain_archived = await session.scalar(
            select(func.count()).where(Version.kind == "archived", Version.text_body.is_not(None))
        )
    assert report.archived_versions == 12
    assert report.stored_bytes < report.raw_bytes
    assert report.ratio == report.raw_bytes / report.stored_bytes > 1.5
    assert plain_archived == 0


def test_document_writer_is_deterministic_and_edits_gradually() -> None:
    """The same seed writes the same versions; each version differs a little from the last."""
    first = DocumentWriter(3).versions(5_000)
    second = DocumentWriter(3).versions(5_000)
    versions = [next(first) for _ in range(5)]
    assert versions == [next(second) for _ in range(5)]
    assert all(4_000 < len(text) < 7_000 for text in versions)
    assert all(a != b for a, b in itertools.pairwise(versions))
    other = next(DocumentWriter(4).versions(5_000))
    assert other != versions[0]


def test_small_sizes_used_by_tests() -> None:
    """The test data set is small: a few hundred versions in all."""
    assert SMALL.total_versions == 180


async def test_seeding_twice_is_refused(deployment: Any) -> None:
    """Seeding a database that already holds content fails clearly instead of duplicating."""
    from examples.versioning import seed

    with pytest.raises(ValueError, match="already hold content"):
        await seed(deployment.state.engine, SMALL)


@pytest.mark.parametrize(
    "changes",
    [{"large_items": 4, "items": 3}, {"versions": 0}, {"min_body_bytes": 10, "max_body_bytes": 5}],
)
def test_impossible_sizes_are_refused(changes: dict[str, int]) -> None:
    """Sizes that cannot describe a data set raise ValueError at once."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        SeedSizes(**changes)
