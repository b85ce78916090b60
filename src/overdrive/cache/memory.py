"""The L1 tier: an in-process store bounded in bytes, with W-TinyLFU admission and eviction.

Why not LRU: on skewed traffic a burst of keys seen once (a crawler, a report, a
migration) flushes an LRU of the keys everyone asks for. W-TinyLFU (Einziger, Friedman
and Manes; the policy of Caffeine and theine) lets a newcomer into the main cache only
if a frequency sketch says it has been wanted more often than the entry it would push
out, so one-hit wonders pass through a small window and leave without harm.

The layout, as in Caffeine:

- a *window* LRU (about 1% of the bytes) where every new item lands, so a burst of
  new-but-soon-reused keys still gets a chance;
- a *main* segmented LRU: *probation* (entries that came out of the window) and
  *protected* (about 80% of main: entries read again while on probation);
- a count-min `FrequencySketch` of recent accesses, halved periodically.

When the window overflows, its oldest items become *candidates* at the young end of
probation. While the store is over its byte budget, the newest candidate contests the
oldest probation entries (the *victims*): it stays only if it is more frequent than
every victim it takes the room of, otherwise it goes. Everything is weighted by bytes:
an item larger than the window skips it and goes straight to the contest, and a big
candidate must beat every victim whose bytes it needs.

The window stays at 1%. Caffeine resizes it by hill climbing, which pays off when
traffic favours recency; on the Zipf traces of `benchmarks/bench_hit_ratio.py` a
smaller window only ever did better (alpha 1.0: 59.6% at 0%, 59.6% at 1%, 59.4% at 5%,
58.5% at 20%), so a climber would have nothing to find there and is not implemented.

The hit path is kept to a dict lookup and a list append. Like Caffeine, reads are
bookkept lazily: `get` records the key in a bounded read buffer, replayed into the
sketch and the LRU orders on the next write. A read that finds the buffer full asks
for a drain: inside a running event loop it is scheduled with `call_soon`, off the
hit path, and reads are dropped until it runs (the buffer is lossy on purpose: a
sample of the reads is all a frequency policy needs, and the hit stays cheap); with
no loop running the buffer is drained on the spot.

Concurrency: none. The store belongs to one event loop thread (Overdrive's L1 is only
touched from the loop), so it takes no locks; do not share one across threads.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from typing import Generic, TypeVar

from overdrive.cache.sketch import FrequencySketch
from overdrive.errors import CacheError, ConfigurationError

__all__ = ["MemoryStore"]

T = TypeVar("T")

WINDOW_SHARE = 0.01
PROTECTED_SHARE = 0.80
READ_BUFFER_SIZE = 256
# A candidate this popular is occasionally admitted even against a more popular victim,
# so an attacker who pumps a victim's counters through hash collisions cannot pin it
# (Caffeine's defence; its threshold and odds).
HASH_FLOODING_FREQUENCY = 6
HASH_FLOODING_ODDS = 128


class MemoryStore(Generic[T]):
    """A bytes-bounded in-process store with W-TinyLFU admission and eviction.

        store: MemoryStore[Entry] = MemoryStore(max_bytes=64 * 1024 * 1024)
        store.set("user:1", entry, size=len(entry.payload))
        store.get("user:1")        # the stored object itself, or None

    `get` returns the object that was stored, not a copy. Values must not be `None`:
    `None` is how `get` says "absent". `set` may refuse an item (it is larger than the
    whole store, or the policy judged it less worth keeping than what it would evict)
    and says so by returning False. Sizes are whatever unit the caller measures in,
    bytes by convention, and at least 1, so the byte bound also bounds the item count.

    Single-threaded by design: no locks. Use it from one event loop thread.
    """

    __slots__ = (
        "_drain_scheduled",
        "_flood_random",
        "_probation",
        "_protected",
        "_protected_bytes",
        "_protected_max",
        "_reads",
        "_sketch",
        "_values",
        "_window",
        "_window_bytes",
        "_window_max",
        "bytes_used",
        "evictions",
        "max_bytes",
    )

    def __init__(self, max_bytes: int) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ConfigurationError(f"max_bytes must be an int >= 0, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.bytes_used = 0
        self.evictions = 0
        self._values: dict[str, T] = {}
        # Each region maps key -> size, oldest first.
        self._window: OrderedDict[str, int] = OrderedDict()
        self._probation: OrderedDict[str, int] = OrderedDict()
        self._protected: OrderedDict[str, int] = OrderedDict()
        self._window_bytes = 0
        self._protected_bytes = 0
        self._window_max = int(max_bytes * WINDOW_SHARE)
        self._protected_max = int((max_bytes - self._window_max) * PROTECTED_SHARE)
        self._reads: list[str] = []
        self._drain_scheduled = False
        self._sketch = FrequencySketch()
        self._flood_random = random.Random()

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: str) -> T | None:
        """The stored object for `key`, or None; the access counts towards keeping it."""
        value = self._values.get(key)
        if value is not None:
            reads = self._reads
            if len(reads) < READ_BUFFER_SIZE:
                reads.append(key)
            elif not self._drain_scheduled:
                self._read_buffer_full(key)
            # else: dropped, a drain is already on its way.
        return value

    def peek(self, key: str) -> T | None:
        """The stored object for `key`, or None, without counting an access."""
        return self._values.get(key)

    def set(self, key: str, value: T, size: int) -> bool:
        """Store `value` under `key`, replacing any previous one; True if it is stored.

        False when `size` exceeds `max_bytes` (a previous item under `key` is removed
        then, so a stale value never outlives a refused replacement) or when the
        admission policy turned it away.
        """
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise CacheError(f"item size must be an int >= 1, got {size!r}")
        if value is None:
            raise CacheError("None cannot be stored: get() uses it to mean absent")
        if self._reads:
            self._drain_reads()
        if size > self.max_bytes:
            self._remove(key)
            return False
        self._sketch.increment(key)
        values = self._values
        candidates: list[str] = []
        if key in values:
            values[key] = value
            self._resize(key, size)
        else:
            values[key] = value
            self.bytes_used += size
            if size > self._window_max:
                self._probation[key] = size
                candidates.append(key)
            else:
                self._window[key] = size
                self._window_bytes += size
            if self.bytes_used >= self.max_bytes >> 1:
                self._sketch.ensure_capacity(len(values))
        if self._window_bytes > self._window_max:
            self._evict_from_window(candidates)
        if self.bytes_used > self.max_bytes:
            self._evict_from_main(candidates, key)
        return key in values

    def delete(self, key: str) -> bool:
        """Remove `key`; True if it was stored."""
        return self._remove(key)

    def clear(self) -> None:
        """Remove every item. Access history is kept: it still says what is popular."""
        self._values.clear()
        self._window.clear()
        self._probation.clear()
        self._protected.clear()
        self._reads.clear()
        self.bytes_used = 0
        self._window_bytes = 0
        self._protected_bytes = 0

    # -- bookkeeping -------------------------------------------------------------------

    def _read_buffer_full(self, key: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._drain_reads()
            self._reads.append(key)
            return
        self._drain_scheduled = True
        loop.call_soon(self._drain_reads)
        # This read is dropped: the drain will run once the current task yields.

    def _drain_reads(self) -> None:
        """Replay buffered hits: count them in the sketch and refresh their recency."""
        self._drain_scheduled = False
        reads = self._reads
        # Every access counts, even to a key removed since it was read.
        self._sketch.increment_all(reads, len(reads))
        refresh_protected = self._protected.move_to_end
        for key in reads:
            try:
                refresh_protected(key)  # where most hits land: one C call, no test first
            except KeyError:
                if key in self._window:
                    self._window.move_to_end(key)
                elif key in self._probation:
                    self._promote(key)
        reads.clear()

    def _promote(self, key: str) -> None:
        """A probation entry read again earns a place in protected."""
        size = self._probation.pop(key)
        self._protected[key] = size
        self._protected_bytes += size
        if self._protected_bytes > self._protected_max:
            self._demote_protected()

    def _demote_protected(self) -> None:
        """Protected over its share: its oldest entries go back to probation's young end."""
        protected = self._protected
        probation = self._probation
        while self._protected_bytes > self._protected_max and protected:
            key, size = protected.popitem(last=False)
            probation[key] = size
            self._protected_bytes -= size

    def _resize(self, key: str, size: int) -> None:
        """A replacement: new size in place, and it counts as an access."""
        if key in self._window:
            old = self._window[key]
            self._window[key] = size
            self._window.move_to_end(key)
            self._window_bytes += size - old
        elif key in self._protected:
            old = self._protected[key]
            self._protected[key] = size
            self._protected.move_to_end(key)
            self._protected_bytes += size - old
            if self._protected_bytes > self._protected_max:
                self._demote_protected()
        else:
            old = self._probation[key]
            self._probation[key] = size
            self._promote(key)
        self.bytes_used += size - old

    def _remove(self, key: str) -> bool:
        if self._values.pop(key, None) is None:
            return False
        if key in self._window:
            size = self._window.pop(key)
            self._window_bytes -= size
        elif key in self._protected:
            size = self._protected.pop(key)
            self._protected_bytes -= size
        else:
            size = self._probation.pop(key)
        self.bytes_used -= size
        return True

    def _evict(self, key: str) -> None:
        self._remove(key)
        self.evictions += 1

    # -- eviction ----------------------------------------------------------------------

    def _evict_from_window(self, candidates: list[str]) -> None:
        """Move the window's oldest items to probation's young end, as candidates."""
        window = self._window
        probation = self._probation
        moved: list[str] = []
        while self._window_bytes > self._window_max and window:
            key, size = window.popitem(last=False)
            self._window_bytes -= size
            probation[key] = size
            moved.append(key)
        # Candidates are contested newest first; a newcomer that skipped the window
        # is newer than anything the window pushed out.
        candidates[:0] = moved

    def _evict_from_main(self, candidates: list[str], incoming: str) -> None:
        """Evict until the store fits: candidates contest victims, then plain LRU order."""
        probation = self._probation
        while self.bytes_used > self.max_bytes:
            while candidates and candidates[-1] not in probation:
                candidates.pop()
            if not candidates:
                self._evict_oldest(incoming)
                continue
            candidate = candidates.pop()
            victims = self._victims_for(candidate)
            if victims is not None and self._admit(candidate, victims):
                for victim in victims:
                    self._evict(victim)
            elif candidate == incoming:
                self._remove(candidate)  # the item being set is refused, not evicted
            else:
                self._evict(candidate)

    def _victims_for(self, candidate: str) -> list[str] | None:
        """The oldest probation entries whose bytes would make room; None if too few."""
        overflow = self.bytes_used - self.max_bytes
        victims: list[str] = []
        freed = 0
        for key, size in self._probation.items():
            if key == candidate:
                continue
            victims.append(key)
            freed += size
            if freed >= overflow:
                return victims
        return None

    def _admit(self, candidate: str, victims: list[str]) -> bool:
        frequency = self._sketch.frequency
        candidate_frequency = frequency(candidate)
        if candidate_frequency > max(frequency(victim) for victim in victims):
            return True
        return (
            candidate_frequency >= HASH_FLOODING_FREQUENCY
            and self._flood_random.randrange(HASH_FLOODING_ODDS) == 0
        )

    def _evict_oldest(self, incoming: str) -> None:
        """No candidate left: evict by recency, probation first, then protected, window."""
        for region in (self._probation, self._protected, self._window):
            if region:
                key = next(iter(region))
                if key == incoming:
                    self._remove(key)
                else:
                    self._evict(key)
                return
        raise AssertionError("over the byte budget with nothing stored")  # pragma: no cover
