"""The L1 store: byte bound, admission, eviction and bookkeeping, against a model."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from overdrive.cache import memory
from overdrive.cache.memory import MemoryStore
from overdrive.errors import CacheError, ConfigurationError


class Value:
    """A distinct stored object, so identity checks catch a wrong or stale value."""

    def __init__(self, label: str) -> None:
        self.label = label


KEYS = [f"k{index}" for index in range(40)]


class MemoryStoreMachine(RuleBasedStateMachine):
    """Random operations; after each, the store agrees with a model of what it may hold.

    The model cannot predict which items the policy evicts, so it tracks what was stored
    and checks everything the store must guarantee whatever it chose: the byte bound and
    its exact accounting, values never stale or resurrected, and every disappearance
    that no delete or replacement explains counted as an eviction.
    """

    def __init__(self) -> None:
        super().__init__()
        self.store: MemoryStore[Value] = MemoryStore(0)
        self.model: dict[str, tuple[Value, int]] = {}
        self.counter = 0

    @initialize(max_bytes=st.one_of(st.integers(0, 100), st.integers(100, 1_500)))
    def create(self, max_bytes: int) -> None:
        self.store = MemoryStore(max_bytes)

    def _forget_evicted(self, exempt: str | None = None) -> int:
        gone = [key for key in self.model if key not in self.store]
        for key in gone:
            del self.model[key]
        return sum(1 for key in gone if key != exempt)

    @rule(
        key=st.sampled_from(KEYS),
        # Mostly small items, which pass through the window; some big, which skip it.
        size=st.one_of(st.integers(1, 12), st.integers(1, 400)),
    )
    def set(self, key: str, size: int) -> None:
        self.counter += 1
        value = Value(f"{key}#{self.counter}")
        evictions = self.store.evictions
        self.model.pop(key, None)
        stored = self.store.set(key, value, size)
        if size > self.store.max_bytes:
            assert not stored
        if stored:
            assert self.store.peek(key) is value
            self.model[key] = (value, size)
        else:
            assert key not in self.store
        assert self.store.evictions - evictions == self._forget_evicted(exempt=key)

    @rule(key=st.sampled_from(KEYS), times=st.integers(1, 5))
    def get(self, key: str, times: int) -> None:
        for _ in range(times):
            expected = self.model.get(key)
            assert self.store.get(key) is (expected[0] if expected else None)

    @rule(key=st.sampled_from(KEYS))
    def peek(self, key: str) -> None:
        expected = self.model.get(key)
        assert self.store.peek(key) is (expected[0] if expected else None)

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        evictions = self.store.evictions
        assert self.store.delete(key) is (key in self.model)
        self.model.pop(key, None)
        assert key not in self.store
        assert self.store.evictions == evictions

    @rule()
    def clear(self) -> None:
        evictions = self.store.evictions
        self.store.clear()
        self.model.clear()
        assert self.store.evictions == evictions

    @invariant()
    def agrees_with_model(self) -> None:
        store = self.store
        assert store.bytes_used == sum(size for _, size in self.model.values())
        assert 0 <= store.bytes_used <= store.max_bytes
        assert len(store) == len(self.model)
        for key, (value, _) in self.model.items():
            assert key in store
            assert store.peek(key) is value
        for key in KEYS:
            if key not in self.model:
                assert key not in store


MemoryStoreMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=80, deadline=None
)
test_memory_store_against_model = MemoryStoreMachine.TestCase


def test_frequent_keys_survive_a_scan_of_one_hit_wonders() -> None:
    """Keys read often stay while 10,000 keys seen once pass through.

    The hot keys come back every 150 scanned keys, more than the store holds: an LRU
    of the same size has pushed every one of them out by then, each time.
    """
    store: MemoryStore[Value] = MemoryStore(100)
    hot = [f"hot{index}" for index in range(20)]
    misses = 0

    def read_hot_keys() -> None:
        nonlocal misses
        for key in hot:
            if store.get(key) is None:
                misses += 1
                store.set(key, Value(key), 1)

    for _ in range(5):
        read_hot_keys()
    misses = 0
    for index in range(10_000):
        key = f"scan{index}"
        assert store.get(key) is None
        store.set(key, Value(key), 1)
        if index % 150 == 0:
            read_hot_keys()
    assert all(key in store for key in hot)
    assert misses == 0
    assert store.bytes_used <= 100


@pytest.mark.parametrize(("read", "survives"), [("get", True), ("peek", False)])
def test_get_counts_an_access_and_peek_does_not(read: str, survives: bool) -> None:
    """A key read with get() is kept over one-hit wonders; one only peeked at is not."""
    store: MemoryStore[Value] = MemoryStore(50)
    store.set("watched", Value("watched"), 1)
    for index in range(200):
        key = f"scan{index}"
        store.set(key, Value(key), 1)
        getattr(store, read)("watched")
    assert ("watched" in store) is survives


def test_every_removal_to_make_room_is_an_eviction() -> None:
    """Setting 500 distinct keys in room for 100 counts exactly the ones no longer there."""
    store: MemoryStore[Value] = MemoryStore(100)
    for index in range(500):
        store.set(f"k{index}", Value(str(index)), 1)
    assert len(store) == 100
    assert store.bytes_used == 100
    assert store.evictions == 400


def test_oversize_item_is_refused_and_removes_the_old_one() -> None:
    """An item larger than the store is refused; a previous value under its key goes."""
    store: MemoryStore[Value] = MemoryStore(100)
    store.set("k", Value("small"), 10)
    assert store.set("k", Value("huge"), 101) is False
    assert "k" not in store
    assert store.get("k") is None
    assert store.bytes_used == 0
    assert store.evictions == 0


def test_replacement_adjusts_bytes() -> None:
    """Replacing a value swaps its size in the byte count and returns the new object."""
    store: MemoryStore[Value] = MemoryStore(100)
    store.set("k", Value("one"), 10)
    store.set("other", Value("other"), 5)
    newer = Value("two")
    assert store.set("k", newer, 30) is True
    assert store.get("k") is newer
    assert store.bytes_used == 35
    assert len(store) == 2


def test_item_larger_than_the_window_must_win_the_contest() -> None:
    """A newcomer bigger than the window is refused until it is wanted more than its victims."""
    store: MemoryStore[Value] = MemoryStore(1_000)  # window: 10 bytes
    residents = [f"r{index}" for index in range(10)]
    for key in residents:
        store.set(key, Value(key), 100)
        for _ in range(3):
            store.get(key)
    assert store.set("big", Value("big"), 50) is False
    assert "big" not in store
    assert store.evictions == 0
    admitted = False
    for _ in range(10):  # each attempt counts as an access to "big"
        admitted = store.set("big", Value("big"), 50)
        if admitted:
            break
    assert admitted
    assert store.bytes_used <= 1_000
    assert store.evictions == 1  # one 100-byte victim makes room for 50 bytes


def test_big_candidate_must_beat_every_victim_it_displaces() -> None:
    """A candidate needing several victims' room is refused if any of them is more popular."""
    store: MemoryStore[Value] = MemoryStore(1_000)
    for index in range(10):
        store.set(f"r{index}", Value(str(index)), 100)
    for _ in range(3):
        # Popular, yet still on probation (a get would promote it out of the victims).
        store._sketch.increment("r1")
    for _ in range(2):
        store.set("big", Value("big"), 200)  # frequency 2: beats r0, not r1
    assert "big" not in store
    assert "r0" in store
    assert "r1" in store
    assert store.evictions == 0


def test_zero_byte_store_stores_nothing() -> None:
    """max_bytes=0 is a valid, empty store: every set is refused."""
    store: MemoryStore[Value] = MemoryStore(0)
    assert store.set("k", Value("v"), 1) is False
    assert len(store) == 0
    assert store.get("k") is None


def test_delete_and_clear() -> None:
    """delete says whether the key was there; clear empties the store but keeps evictions."""
    store: MemoryStore[Value] = MemoryStore(3)
    for index in range(5):
        store.set(f"k{index}", Value(str(index)), 1)
    evictions = store.evictions
    present = next(key for key in ("k0", "k1", "k2", "k3", "k4") if key in store)
    assert store.delete(present) is True
    assert store.delete(present) is False
    store.clear()
    assert len(store) == 0
    assert store.bytes_used == 0
    assert store.evictions == evictions
    assert store.set("again", Value("again"), 1) is True
    assert store.get("again") is not None


def test_contains_accepts_any_object() -> None:
    """`in` works with any object, as for a dict."""
    store: MemoryStore[Value] = MemoryStore(10)
    store.set("k", Value("v"), 1)
    assert "k" in store
    assert 42 not in store


@pytest.mark.parametrize("max_bytes", [-1, 1.5, "64MB", True, None])
def test_bad_max_bytes_is_a_configuration_error(max_bytes: object) -> None:
    """A negative or non-integer budget is refused when the store is built."""
    with pytest.raises(ConfigurationError, match="max_bytes"):
        MemoryStore(max_bytes)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, -5, 2.5, "10", True])
def test_sizes_must_be_ints_of_at_least_one(size: object) -> None:
    """Every item occupies at least one unit, so the byte bound also bounds the count."""
    store: MemoryStore[Value] = MemoryStore(10)
    with pytest.raises(CacheError, match="size"):
        store.set("k", Value("v"), size)  # type: ignore[arg-type]
    assert len(store) == 0


def test_none_cannot_be_stored() -> None:
    """None is how get() says absent, so storing it is an error, not a silent miss."""
    store: MemoryStore[object] = MemoryStore(10)
    with pytest.raises(CacheError, match="None"):
        store.set("k", None, 1)


def test_full_read_buffer_is_drained_on_the_spot_without_a_loop() -> None:
    """With no event loop running, a full read buffer is replayed at once, no read lost."""
    store: MemoryStore[Value] = MemoryStore(10)
    store.set("k", Value("v"), 1)
    for _ in range(memory.READ_BUFFER_SIZE + 1):
        store.get("k")
    assert store._reads == ["k"]
    assert store._sketch.frequency("k") > 1  # the set counted once, the reads the rest


async def test_full_read_buffer_is_drained_by_the_loop_off_the_hit_path() -> None:
    """Inside a loop, a full buffer drops further reads and drains once the task yields."""
    store: MemoryStore[Value] = MemoryStore(10)
    store.set("k", Value("v"), 1)
    for _ in range(memory.READ_BUFFER_SIZE + 10):
        assert store.get("k") is not None
    assert len(store._reads) == memory.READ_BUFFER_SIZE
    assert store._sketch.frequency("k") == 1  # only the set, so far
    await asyncio.sleep(0)
    assert store._reads == []
    assert store._sketch.frequency("k") > 1


def test_a_read_refreshes_an_item_inside_the_window() -> None:
    """The window is an LRU: the item read last is the last to leave it for probation."""
    store: MemoryStore[Value] = MemoryStore(1_000)  # window: 10 bytes
    store.set("a", Value("a"), 5)
    store.set("b", Value("b"), 5)
    store.get("a")
    store.set("c", Value("c"), 5)  # the window overflows: its oldest item moves on
    assert list(store._window) == ["a", "c"]
    assert list(store._probation) == ["b"]


def test_a_replacement_that_outgrows_the_room_left_evicts_others() -> None:
    """A value growing in place makes room by evicting other items, counted as evictions."""
    store: MemoryStore[Value] = MemoryStore(100)
    for index in range(10):
        store.set(f"k{index}", Value(str(index)), 10)
    store.get("k9")
    newer = Value("grown")
    assert store.set("k9", newer, 40) is True
    assert store.peek("k9") is newer
    assert store.bytes_used <= 100
    assert store.evictions == 10 - len(store)


def test_a_replacement_filling_the_whole_budget_evicts_everything_else() -> None:
    """A value grown to max_bytes stays; every other item is evicted and counted."""
    store: MemoryStore[Value] = MemoryStore(100)
    store.set("k", Value("k"), 60)
    store.set("other", Value("other"), 30)
    biggest = Value("biggest")
    assert store.set("k", biggest, 100) is True
    assert store.peek("k") is biggest
    assert "other" not in store
    assert store.bytes_used == 100
    assert store.evictions == 1
