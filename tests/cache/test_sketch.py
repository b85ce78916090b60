"""The frequency sketch behind L1 admission: estimates, saturation, aging, batching."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from overdrive.cache.sketch import MAX_COUNT, SAMPLES_PER_ENTRY, FrequencySketch

keys = st.text(min_size=1, max_size=8)


@settings(max_examples=200)
@given(st.lists(keys, max_size=400))
def test_estimates_never_under_count_before_aging(accesses: list[str]) -> None:
    """Every key's estimate is at least its true count (capped at 15) while no aging ran."""
    sketch = FrequencySketch(capacity=1_000)  # sample period 10,240: no aging here
    for key in accesses:
        sketch.increment(key)
    for key, count in Counter(accesses).items():
        assert sketch.frequency(key) >= min(count, MAX_COUNT)


@settings(max_examples=100)
@given(st.lists(st.lists(keys, max_size=60), max_size=20))
def test_batched_increments_never_under_count(batches: list[list[str]]) -> None:
    """increment_all counts every item of a batch, folds included, like single increments."""
    sketch = FrequencySketch(capacity=16)  # folds every 16 distinct keys, no aging before 160
    seen: Counter[str] = Counter()
    for batch in batches:
        sketch.increment_all(batch, len(batch))
        seen.update(batch)
        if seen.total() >= sketch.sample_size:
            break
        for key, count in seen.items():
            assert sketch.frequency(key) >= min(count, MAX_COUNT)


def test_unseen_key_estimates_zero() -> None:
    """A sketch that saw nothing estimates zero for any key."""
    assert FrequencySketch().frequency("never") == 0


def test_counts_saturate_at_fifteen() -> None:
    """Counters are 4-bit: a key seen 100 times estimates 15."""
    sketch = FrequencySketch(capacity=1_000)
    for _ in range(100):
        sketch.increment("hot")
    assert sketch.frequency("hot") == MAX_COUNT


def test_age_halves_counts() -> None:
    """age() halves every counter, rounding down."""
    sketch = FrequencySketch(capacity=1_000)
    for _ in range(11):
        sketch.increment("a")
    for _ in range(4):
        sketch.increment("b")
    sketch.age()
    assert sketch.frequency("a") == 5
    assert sketch.frequency("b") == 2


def test_ages_itself_after_the_sample_period() -> None:
    """After sample_size additions the counts are halved without being asked."""
    sketch = FrequencySketch(capacity=16)
    for _ in range(sketch.sample_size - 1):
        sketch.increment("hot")
    assert sketch.frequency("hot") == MAX_COUNT
    sketch.increment("hot")
    assert sketch.frequency("hot") == MAX_COUNT // 2
    assert sketch.additions == sketch.sample_size // 2


def test_pending_counts_fold_into_the_table_when_too_many_keys_wait() -> None:
    """Past `capacity` distinct keys waiting, counts move into the table; estimates stay."""
    sketch = FrequencySketch(capacity=16)
    names = [f"k{index}" for index in range(sketch.capacity + 1)]
    sketch.increment_all(names, len(names))
    sketch.increment_all(names[:1], 1)
    assert len(sketch._pending) == 1  # the first batch was folded, the second waits
    assert sketch.frequency(names[0]) >= 2
    assert all(sketch.frequency(name) >= 1 for name in names)


def test_aging_halves_pending_and_folded_counts_alike() -> None:
    """Counts still waiting in the dict are halved like the table's; ones reach zero."""
    sketch = FrequencySketch(capacity=16)
    names = [f"k{index}" for index in range(sketch.capacity + 1)]
    sketch.increment_all(names * 6, 6 * len(names))  # folded: six each in the table
    sketch.increment_all(["waiting"] * 9 + ["once"], 10)
    sketch.age()
    assert sketch.frequency("waiting") == 4
    assert sketch.frequency("once") == 0
    assert all(sketch.frequency(name) >= 3 for name in names)


def test_ensure_capacity_grows_and_resets() -> None:
    """Growing the table forgets the counts (they cannot be rehashed); shrinking never happens."""
    sketch = FrequencySketch(capacity=16)
    sketch.increment("a")
    sketch.ensure_capacity(8)
    assert sketch.capacity == 16
    assert sketch.frequency("a") == 1
    sketch.ensure_capacity(1_000)
    assert sketch.capacity == 1_024
    assert sketch.sample_size == SAMPLES_PER_ENTRY * 1_024
    assert sketch.frequency("a") == 0


def test_clear_forgets_everything() -> None:
    """clear() resets every count, pending or folded."""
    sketch = FrequencySketch(capacity=16)
    sketch.increment_all(["a"] * 20 + [f"k{index}" for index in range(20)], 40)
    sketch.increment("b")
    sketch.clear()
    assert sketch.frequency("a") == 0
    assert sketch.frequency("b") == 0
    assert sketch.additions == 0


def test_small_int_keys_do_not_share_counters() -> None:
    """Keys whose hash() is themselves (ints) are spread: neighbours keep separate counts."""
    sketch = FrequencySketch(capacity=1_024)
    for key in range(1_000):
        sketch.increment_all([key] * (key % 3), key % 3)
    sketch._fold()
    wrong = sum(1 for key in range(1_000) if sketch.frequency(key) != key % 3)
    assert wrong < 20
