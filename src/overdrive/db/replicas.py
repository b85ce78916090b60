"""Read-replica routing: read-only sessions read from replicas, everything else the primary.

A session marked read-only (`router.session(read_only=True)`) sends its reads to one
replica, picked round-robin when the session starts and kept for the session so its
reads see one consistent snapshot source. Writes always go to the primary, and once a
session has written (a flush, or an INSERT/UPDATE/DELETE/`FOR UPDATE` statement) its
later reads go to the primary too: a request reads its own writes.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Delete, Insert, Select, TextClause, Update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapper, Session

from overdrive.errors import ConfigurationError

__all__ = ["ReplicaRouter", "RoutingSession"]

ROUTER = "overdrive.router"
READ_ONLY = "overdrive.read_only"
WROTE = "overdrive.wrote"
REPLICA = "overdrive.replica"

_READS = ("select", "with", "show", "explain")


def _is_write(clause: Any) -> bool:
    if isinstance(clause, Insert | Update | Delete):
        return True
    if isinstance(clause, Select):
        return clause._for_update_arg is not None
    if isinstance(clause, TextClause):
        words = clause.text.lstrip(" \t\n(").split(None, 1)
        return not words or words[0].lower() not in _READS
    return False


class RoutingSession(Session):
    """The sync session behind each routed `AsyncSession`; `get_bind` does the routing."""

    def get_bind(
        self,
        mapper: Mapper[Any] | type | None = None,
        clause: Any = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        router: ReplicaRouter | None = self.info.get(ROUTER)
        if router is None:
            return super().get_bind(mapper, clause=clause, **kwargs)
        if self._flushing or _is_write(clause):
            self.info[WROTE] = True
            return router.primary
        if not self.info.get(READ_ONLY) or self.info.get(WROTE):
            return router.primary
        replica: Engine | None = self.info.get(REPLICA)
        if replica is None:
            replica = self.info[REPLICA] = router.next_replica()
        return replica


class ReplicaRouter:
    """Routes sessions between one primary and its read replicas.

        router = ReplicaRouter(primary_engine, [replica_engine])
        async with router.session(read_only=True) as session:   # reads from a replica
            versions = (await session.scalars(select(Version))).all()
        async with router.session() as session:                 # primary
            session.add(Version(...)); await session.commit()
    """

    def __init__(
        self, primary: AsyncEngine, replicas: Sequence[AsyncEngine], **session_options: Any
    ) -> None:
        if not isinstance(primary, AsyncEngine) or not all(
            isinstance(replica, AsyncEngine) for replica in replicas
        ):
            raise ConfigurationError("ReplicaRouter expects AsyncEngine instances")
        self.primary: Engine = primary.sync_engine
        self.replicas: list[Engine] = [replica.sync_engine for replica in replicas]
        self._cycle = itertools.cycle(self.replicas) if self.replicas else None
        self._lock = threading.Lock()
        session_options.setdefault("expire_on_commit", False)
        self.factory = async_sessionmaker(
            bind=primary,
            sync_session_class=RoutingSession,
            info={ROUTER: self},
            **session_options,
        )

    def next_replica(self) -> Engine:
        if self._cycle is None:
            return self.primary
        with self._lock:
            return next(self._cycle)

    def session(self, *, read_only: bool = False) -> AsyncSession:
        """A new session; `read_only=True` sends its reads to a replica until it writes."""
        session: AsyncSession = self.factory()
        session.info[READ_ONLY] = read_only
        return session
