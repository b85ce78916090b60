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
"""

from __future__ import annotations

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

    __slots__ = ("_mask", "_table", "additions", "sample_size")

    def __init__(self, capacity: int = MIN_CAPACITY) -> None:
        self._table = bytearray()
        self._mask = 0
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
        self.additions = 0
        self.sample_size = SAMPLES_PER_ENTRY * (width // COUNTERS_PER_ENTRY)

    def ensure_capacity(self, capacity: int) -> None:
        """Grow (and reset) the table if `capacity` keys would crowd it.

        Growth doubles at least, so a cache that fills up resizes a handful of times;
        the counts are lost then, as in Caffeine, because they cannot be rehashed.
        """
        if capacity > self.capacity:
            self._allocate(capacity)

    def increment(self, key: object) -> None:
        """Record one access to `key`."""
        table = self._table
        mask = self._mask
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
            return
        if a == least:
            table[first] = least + 1
        if b == least:
            table[second] = least + 1
        if c == least:
            table[third] = least + 1
        if d == least:
            table[fourth] = least + 1
        self.additions += 1
        if self.additions >= self.sample_size:
            self.age()

    def frequency(self, key: object) -> int:
        """The estimated number of recent accesses to `key`, never below the true count
        since the last aging (capped at 15)."""
        table = self._table
        mask = self._mask
        hashed = hash(key)
        step = (hashed >> 32) | 1
        return min(
            table[hashed & mask],
            table[(hashed + step) & mask],
            table[(hashed + 2 * step) & mask],
            table[(hashed + 3 * step) & mask],
        )

    def age(self) -> None:
        """Halve every counter, so old popularity fades and new keys can compete."""
        self._table = bytearray(self._table.translate(HALVE))
        self.additions //= 2

    def clear(self) -> None:
        """Forget every count."""
        self._allocate(self.capacity)
