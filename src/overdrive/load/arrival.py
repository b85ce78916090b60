"""The open model: iterations start at their intended times, whatever the server does.

Locust's users form a closed loop: a slow response delays that user's next request, so
a slow server receives less load and its latency hides (coordinated omission). Here one
scheduler greenlet walks a fixed timetable — iteration i is due at start + i / rate —
and hands each iteration to a greenlet of a bounded pool. Latency is measured from the
intended start: the gap between due time and actual start (scheduler lag, CPU
saturation) is added to every request of that iteration, through an attribute on the
iteration's greenlet that the request listener reads.

An arrival that finds `max_in_flight` iterations running is dropped and counted, never
queued; a run that drops arrivals or falls behind its timetable did not reach its rate,
which the runner reports as a failed run rather than as good latency.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.pool import Pool
from locust.env import Environment
from locust.exception import InterruptTaskSet, RescheduleTask, StopUser
from locust.user.task import TaskSet
from locust.user.users import User

from overdrive.load.stages import ArrivalRate

__all__ = ["LAG_ATTRIBUTE", "ArrivalCounts", "OpenModel", "rate_failure"]

LAG_ATTRIBUTE = "overdrive_schedule_lag"
# A run that issues fewer than this share of its timetable did not reach its rate.
REQUIRED_SHARE = 0.95


@dataclass(slots=True)
class ArrivalCounts:
    """What happened to the timetable; workers' counts add up on the master."""

    intended: int = 0
    issued: int = 0
    dropped: int = 0
    max_lag: float = 0.0
    issue_window: float = 0.0
    task_errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: ArrivalCounts) -> None:
        self.intended += other.intended
        self.issued += other.issued
        self.dropped += other.dropped
        self.max_lag = max(self.max_lag, other.max_lag)
        self.issue_window = max(self.issue_window, other.issue_window)
        for error, count in other.task_errors.items():
            self.task_errors[error] = self.task_errors.get(error, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {
            "intended": self.intended,
            "issued": self.issued,
            "dropped": self.dropped,
            "max_lag": self.max_lag,
            "issue_window": self.issue_window,
            "task_errors": self.task_errors,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArrivalCounts:
        return cls(**data)


def rate_failure(plan: ArrivalRate, counts: ArrivalCounts) -> str | None:
    """Why the run did not reach its rate, or None when it did."""
    wanted = plan.expected_arrivals
    if counts.dropped > wanted * (1 - REQUIRED_SHARE):
        return (
            f"the open model could not reach {_rate(plan)}: {counts.dropped} of {wanted}"
            f" arrivals dropped with {plan.max_in_flight} iterations in flight"
            " (raise --max-in-flight or lower the rate)"
        )
    achieved = counts.issued / counts.issue_window if counts.issue_window else 0.0
    if achieved < plan.mean_rate * REQUIRED_SHARE:
        return (
            f"the open model could not reach {_rate(plan)}: the load generator issued"
            f" only {achieved:.1f}/s on average (it is CPU-bound: use --workers or a lower rate)"
        )
    return None


def _rate(plan: ArrivalRate) -> str:
    if plan.is_constant:
        return f"{plan.start_rate:g} req/s"
    return f"its rate ({plan.mean_rate:.1f} req/s on average)"


class OpenModel:
    """Run a scenario's tasks at a constant arrival rate, one task per arrival."""

    def __init__(self, environment: Environment, user_classes: list[type[User]], plan: ArrivalRate):
        self.environment = environment
        self.user_classes = user_classes
        self.weights = [max(user_class.weight, 1) for user_class in user_classes]
        self.plan = plan
        self.pool = Pool(plan.max_in_flight)
        self.idle: dict[type[User], list[User]] = {user_class: [] for user_class in user_classes}
        self.counts = ArrivalCounts()
        self.started_at = 0.0

    @property
    def in_flight(self) -> int:
        return len(self.pool)

    def run(self, drain_timeout: float) -> ArrivalCounts:
        """Issue the whole timetable, then wait up to `drain_timeout` for stragglers."""
        plan, counts = self.plan, self.counts
        start = self.started_at = time.perf_counter()
        completed = False
        try:
            for offset in plan.due_times():
                due = start + offset
                # Sleep until due; when already late, still yield (sleep(0)) so the iterations
                # spawned so far run instead of the scheduler hogging the hub while catching up.
                gevent.sleep(max(0.0, due - time.perf_counter()))
                counts.intended += 1
                if self.pool.full():
                    counts.dropped += 1
                    continue
                self.pool.spawn(self._iteration, due)
                counts.issued += 1
            completed = True
        finally:  # also when the run is aborted: the window is then what actually elapsed
            elapsed = time.perf_counter() - start
            counts.issue_window = max(elapsed, plan.total_duration) if completed else elapsed
        self.pool.join(timeout=drain_timeout)
        self.pool.kill(block=True, timeout=1)
        for users in self.idle.values():
            for user in users:
                _quietly(user.on_stop)
        return counts

    def _iteration(self, due: float) -> None:
        lag = time.perf_counter() - due
        self.counts.max_lag = max(self.counts.max_lag, lag)
        setattr(gevent.getcurrent(), LAG_ATTRIBUTE, lag)
        user_class = random.choices(self.user_classes, self.weights)[0]
        user = self._take(user_class)
        try:
            _run_one_task(user)
        except (RescheduleTask, InterruptTaskSet, StopUser):
            pass
        except Exception as error:
            key = f"{type(error).__name__} in task: {error}"[:200]
            self.counts.task_errors[key] = self.counts.task_errors.get(key, 0) + 1
        finally:
            self.idle[user_class].append(user)

    def _take(self, user_class: type[User]) -> User:
        idle = self.idle[user_class]
        if idle:
            return idle.pop()
        user = user_class(self.environment)
        user.on_start()
        return user


def _run_one_task(user: User) -> None:
    tasks = user.tasks
    if not tasks:
        raise RuntimeError(f"{type(user).__name__} has no tasks")
    chosen: Any = random.choice(tasks)
    if isinstance(chosen, type) and issubclass(chosen, TaskSet):
        nested = chosen(user)  # a nested TaskSet contributes one of its own tasks
        nested.execute_task(nested.get_next_task())
    else:
        chosen(user)


def _quietly(callback: object) -> None:
    try:
        if callable(callback):
            callback()
    except Exception:  # a user's on_stop failing must not lose the run's figures
        pass
