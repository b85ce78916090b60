"""The circuit breaker opens on consecutive failures and recovers through one probe."""

from __future__ import annotations

from overdrive.cache.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_the_threshold_and_refuses() -> None:
    """Five consecutive failures open the circuit; calls are refused while it is open."""
    breaker = CircuitBreaker(failure_threshold=5, clock=Ticks())
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state == CLOSED
    breaker.record_failure()
    assert breaker.state == OPEN
    assert not breaker.allow()


def test_a_success_resets_the_failure_count() -> None:
    """Failures must be consecutive to open the circuit."""
    breaker = CircuitBreaker(failure_threshold=2, clock=Ticks())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == CLOSED


def test_half_open_lets_one_probe_through_and_closes_on_success() -> None:
    """After the reset timeout one probe goes through; its success closes the circuit."""
    ticks = Ticks()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1.0, clock=ticks)
    breaker.record_failure()
    ticks.now = 1.5
    assert breaker.allow()
    assert breaker.state == HALF_OPEN
    assert not breaker.allow()  # only one probe at a time
    breaker.record_success()
    assert breaker.state == CLOSED
    assert breaker.allow()


def test_a_failed_probe_reopens_with_a_longer_timeout() -> None:
    """Each failed probe doubles the wait, up to the maximum."""
    ticks = Ticks()
    breaker = CircuitBreaker(
        failure_threshold=1, reset_timeout=1.0, max_reset_timeout=3.0, clock=ticks
    )
    breaker.record_failure()
    ticks.now = 1.1
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN
    ticks.now = 2.5
    assert not breaker.allow()  # now waits 2 s, not 1
    ticks.now = 3.2
    assert breaker.allow()
    breaker.record_failure()
    ticks.now = 6.1
    assert not breaker.allow()  # capped at 3 s
    ticks.now = 6.3
    assert breaker.allow()
