"""Recent invalidations made through this process: the response cache's guard against the
stale-set race (a read that began before a write putting the old body back)."""

from __future__ import annotations

import collections
from collections.abc import Iterable

__all__ = ["InvalidationLog"]


class InvalidationLog:
    """Recent invalidations made through this process, numbered.

    A response computed while one of its tags was invalidated must not be stored (the
    stale-set race): the recorder notes the generation when the application starts and
    asks, before storing, whether any of the response's tags was invalidated since.
    Invalidations made in other processes are not seen here; the cache's own versions
    would be needed for those.
    """

    def __init__(self, size: int = 1024) -> None:
        self.generation = 0
        self._recent: collections.deque[tuple[int, frozenset[str]]] = collections.deque(
            maxlen=size)

    def record(self, tags: Iterable[str]) -> None:
        self.generation += 1
        self._recent.append((self.generation, frozenset(tags)))

    def since(self, generation: int, tags: Iterable[str]) -> bool:
        """Whether any of `tags` was invalidated after `generation` (True as well when the
        log no longer reaches back that far)."""
        if generation == self.generation:
            return False
        if not self._recent or self._recent[0][0] > generation + 1:
            return True
        wanted = set(tags)
        return any(number > generation and not invalidated.isdisjoint(wanted)
                   for number, invalidated in self._recent)
