"""The content-versioning schema, and the indexes its workload needs.

The tables are the same in both modes. The optimised mode adds the indexes the
endpoints need; the plain mode has primary keys only, as an application that grew
without anyone looking at its query plans would:

- `ix_versions_listing` (content_item_id, number): newest-first listing and lookup by
  number walk one index range instead of scanning the table and sorting;
- `ix_versions_kind_listing` (content_item_id, kind, number): the listing filtered by kind
  and the retention job's scan of an item's autosaves;
- `uq_versions_current_draft` / `uq_versions_published`: partial unique indexes, so the
  current draft and the published version are one index probe each, and the database
  itself refuses a second draft or a second published version of an item;
- `uq_content_items_address` (content_type, content_id): the URL's address to the row.

Version numbers are allocated from `content_items.next_number` under the item's row
lock, so numbering never needs a unique index to stay dense and ordered.
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "KINDS",
    "OPTIMISED_METADATA",
    "ApiToken",
    "Base",
    "ContentItem",
    "PreviewToken",
    "User",
    "Version",
]

KINDS = ("draft", "autosave", "published", "archived")

# BIGINT on Postgres, INTEGER on SQLite: only INTEGER PRIMARY KEY autoincrements there.
_Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ContentItem(Base):
    __tablename__ = "content_items"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    content_type: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    next_number: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class Version(Base):
    __tablename__ = "versions"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    content_item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    # Bumped by every autosave of the item's draft: the optimistic-concurrency token.
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    text_bytes: Mapped[int] = mapped_column(Integer)
    # Bodies last: a row's metadata then sits in its first page, so listing and filtering
    # never read through a body (SQLite stores a row's columns in declaration order).
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Plain text while draft/autosave/published; archived versions keep it in body_zstd.
    text_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    body_zstd: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    # Space-separated permission names: read write publish admin.
    permissions: Mapped[str] = mapped_column(String(256))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    # SHA-256 of the secret: the secret itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class PreviewToken(Base):
    __tablename__ = "preview_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    content_item_id: Mapped[int] = mapped_column(ForeignKey("content_items.id"))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


def _optimised_metadata() -> MetaData:
    """A copy of the tables with the workload's indexes: what optimised mode creates."""
    metadata = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    versions = metadata.tables["versions"]
    items = metadata.tables["content_items"]
    Index("ix_versions_listing", versions.c.content_item_id, versions.c.number)
    Index(
        "ix_versions_kind_listing",
        versions.c.content_item_id,
        versions.c.kind,
        versions.c.number,
    )
    for kind in ("draft", "published"):
        where = text(f"kind = '{kind}'")
        Index(
            f"uq_versions_{'current_draft' if kind == 'draft' else 'published'}",
            versions.c.content_item_id,
            unique=True,
            postgresql_where=where,
            sqlite_where=where,
        )
    Index("uq_content_items_address", items.c.content_type, items.c.content_id, unique=True)
    Index("ix_preview_tokens_item", metadata.tables["preview_tokens"].c.content_item_id)
    Index("ix_api_tokens_user", metadata.tables["api_tokens"].c.user_id)
    Index("uq_api_tokens_hash", metadata.tables["api_tokens"].c.token_hash, unique=True)
    Index("uq_users_name", metadata.tables["users"].c.name, unique=True)
    return metadata


OPTIMISED_METADATA = _optimised_metadata()
