"""How often has a key been asked for lately: a count-min sketch with 4-bit counters.

W-TinyLFU admits a newcomer into the main cache only if it has been wanted more often
than the entry it would push out. Keeping an exact count per key ever seen would grow
without bound; a count-min sketch answers in fixed memory with an error that only ever
over-counts (a key shares each of its four counters with other keys, and the estimate
is the smallest of the four). Counters saturate at 15, as in Caffeine and TinyLFU's
paper: past that, "popular" is all the admission contest needs to know.

Aging keeps the sketch about the recent past. After `sample_size` increments every
counter is halved, so a key that was hot an hour ago does not stay unbeatable forever.

Counters live one per byte in a `bytearray` rather than packed two per byte: in pure
Python the packing costs more time than the memory it saves (16 counters per expected
entry is about 16 bytes per cached item), and halving becomes one C-level `translate`.

Updates are *conservative*: only the counters holding the current minimum are raised,
which keeps the estimate of a key the same or tighter than a plain count-min without
ever dropping below the true count.

Updates are also *batched*, because they sit on the cache's hit path: a pure-Python
four-counter update costs about half a microsecond, while counting a batch of keys into
a dict (`Counter.update`) is C code. Counts wait in that small exact dict and are folded
into the table, once per distinct key, when the dict holds as many keys as the sketch
is sized for or the sample period ends. On skewed traffic a batch holds the same hot
keys many times over, so most accesses cost a dict increment. Estimates add the pending
count, so they still never under-count, and memory stays bounded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

__all__ = ["FrequencySketch"]

MAX_COUNT = 15
COUNTERS_PER_ENTRY = 16
SAMPLES_PER_ENTRY = 10
MIN_CAPACITY = 16

# Maps every byte value v to v // 2: halving the whole table is one `translate`.
HALVE = bytes(value >> 1 for value in range(256))


def _power_of_two_at_least(value: int) -> int:
    return 1 << max(value - 1, 1).bit_length()


class FrequencySketch:
    """Estimated access counts (0..15) for recently seen keys, in fixed memory.

        sketch = FrequencySketch(capacity=1_000)
        sketch.increment("user:1")
        sketch.frequency("user:1")   # >= 1 until aging halves it

    Not thread-safe: like the store that owns it, it runs on one event loop thread.
    """

    __slots__ = (
        "_mask",
        "_pending",
        "_pending_additions",
        "_pending_limit",
        "_table",
        "additions",
        "sample_size",
    )

    def __init__(self, capacity: int = MIN_CAPACITY) -> None:
        self._table = bytearray()
        self._mask = 0
        self._pending: Counter[object] = Counter()
        self._pending_additions = 0
        self._pending_limit = 0
        self.additions = 0
        self.sample_size = 0
        self._allocate(max(capacity, MIN_CAPACITY))

    @property
    def capacity(self) -> int:
        """The number of distinct keys the sketch is sized to tell apart."""
        return len(self._table) // COUNTERS_PER_ENTRY

    def _allocate(self, capacity: int) -> None:
        width = _power_of_two_at_least(capacity) * COUNTERS_PER_ENTRY
        self._table = bytearray(width)
        self._mask = width - 1
        self._pending.clear()
        self._pending_additions = 0
        self.additions = 0
        self.sample_size = SAMPLES_PER_ENTRY * (width // COUNTERS_PER_ENTRY)
        self._pending_limit = width // COUNTERS_PER_ENTRY

    def ensure_capacity(self, capacity: int) -> None:
        """Grow (and reset) the table if `capacity` keys would crowd it.

        Growth doubles at least, so a cache that fills up resizes a handful of times;
        the counts are lost then, as in Caffeine, because they cannot be rehashed.
        """
        if capacity > self.capacity:
            self._allocate(capacity)

    def increment(self, key: object) -> None:
        """Record one access to `key`."""
        self._pending[key] += 1
        self._pending_additions += 1
        if len(self._pending) >= self._pending_limit or (
            self.additions + self._pending_additions >= self.sample_size
        ):
            self._flush()

    def increment_all(self, keys: Collection[object]) -> None:
        """Record one access per item of `keys` (a key may appear many times)."""
        pending = self._pending
        pending.update(keys)
        self._pending_additions += len(keys)
        if len(pending) >= self._pending_limit or (
            self.additions + self._pending_additions >= self.sample_size
        ):
            self._flush()

    def frequency(self, key: object) -> int:
        """The estimated number of recent accesses to `key`, never below the true count
        since the last aging (capped at 15)."""
        table = self._table
        mask = self._mask
        hashed = hash(key)
        step = (hashed >> 32) | 1
        estimate = min(
            table[hashed & mask],
            table[(hashed + step) & mask],
            table[(hashed + 2 * step) & mask],
            table[(hashed + 3 * step) & mask],
        )
        pending = self._pending.get(key)
        if pending:
            estimate += pending
        return estimate if estimate < MAX_COUNT else MAX_COUNT

    def _flush(self) -> None:
        self._fold_pending()
        if self.additions >= self.sample_size:
            self.age()

    def _fold_pending(self) -> None:
        """Add the pending counts into the table."""
        table = self._table
        mask = self._mask
        for key, count in self._pending.items():
            hashed = hash(key)
            # Double hashing: four counters from one 64-bit hash, the step taken from
            # the high bits and forced odd so the four indexes are distinct.
            step = (hashed >> 32) | 1
            first = hashed & mask
            second = (hashed + step) & mask
            third = (hashed + 2 * step) & mask
            fourth = (hashed + 3 * step) & mask
            a = table[first]
            b = table[second]
            c = table[third]
            d = table[fourth]
            least = min(a, b, c, d)
            if least >= MAX_COUNT:
                continue
            # Conservative update by `count`: what `count` single updates would do.
            raised = least + count
            if raised > MAX_COUNT:
                raised = MAX_COUNT
            if a < raised:
                table[first] = raised
            if b < raised:
                table[second] = raised
            if c < raised:
                table[third] = raised
            if d < raised:
                table[fourth] = raised
        self._pending.clear()
        self.additions += self._pending_additions
        self._pending_additions = 0

    def age(self) -> None:
        """Halve every counter, so old popularity fades and new keys can compete."""
        self._fold_pending()
        self._table = bytearray(self._table.translate(HALVE))
        self.additions //= 2

    def clear(self) -> None:
        """Forget every count."""
        self._allocate(self.capacity)
