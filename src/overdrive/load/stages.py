"""Load shapes: ramping user stages (closed model) and a constant arrival rate (open model).

Stages read like k6's: `30s:50,2m:200,30s:0` ramps linearly to 50 users over 30 s, to
200 over the next 2 minutes, then down to 0. The open model is a request rate held for a
duration, whatever the server's latency.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from overdrive.errors import ConfigurationError
from overdrive.load.units import parse_duration

__all__ = ["ArrivalRate", "RateStage", "Stage", "Stages", "parse_rate_stages", "parse_stages"]


@dataclass(frozen=True, slots=True)
class Stage:
    """Ramp linearly from the previous stage's users to `target` over `duration` seconds."""

    duration: float
    target: int


@dataclass(frozen=True, slots=True)
class RateStage:
    """Ramp linearly from the previous arrival rate to `target` per second over `duration`."""

    duration: float
    target: float


@dataclass(frozen=True, slots=True)
class Stages:
    """A closed-model plan: the user count at any moment of the run."""

    stages: tuple[Stage, ...]

    @property
    def total_duration(self) -> float:
        return sum(stage.duration for stage in self.stages)

    @property
    def peak_users(self) -> int:
        return max(stage.target for stage in self.stages)

    def users_at(self, elapsed: float) -> int | None:
        """Users wanted `elapsed` seconds into the run, None once the plan is over."""
        start_users = 0
        for stage in self.stages:
            if elapsed < stage.duration:
                fraction = elapsed / stage.duration
                return round(start_users + (stage.target - start_users) * fraction)
            elapsed -= stage.duration
            start_users = stage.target
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "stages",
            "stages": [{"duration": s.duration, "target": s.target} for s in self.stages],
        }


@dataclass(frozen=True, slots=True)
class ArrivalRate:
    """An open-model plan: iterations per second, constant or ramping, whatever the server does.

    `start_rate` holds at the start; each stage ramps linearly to its target rate over its
    duration (k6's ramping-arrival-rate). A constant rate is one stage whose target equals
    the start. `max_in_flight` bounds the iterations running at once; an arrival that
    finds the bound reached is dropped and counted, never queued (queuing would hide
    latency).

        ArrivalRate.constant(200, 60)                    # 200/s for a minute
        parse_rate_stages("30s:50,2m:200,30s:0")         # ramp up, hold a ramp, ramp down
    """

    start_rate: float
    stages: tuple[RateStage, ...]
    max_in_flight: int = 1000

    def __post_init__(self) -> None:
        if self.start_rate < 0 or any(stage.target < 0 for stage in self.stages):
            raise ConfigurationError("arrival rates must not be negative")
        if not self.stages or any(stage.duration <= 0 for stage in self.stages):
            raise ConfigurationError("an arrival-rate plan needs stages of positive duration")
        if self.expected_arrivals == 0:
            raise ConfigurationError("the arrival rate must be positive")
        if self.max_in_flight < 1:
            raise ConfigurationError(f"max in flight must be at least 1, got {self.max_in_flight}")

    @classmethod
    def constant(cls, rate: float, duration: float, max_in_flight: int = 1000) -> ArrivalRate:
        if rate <= 0:
            raise ConfigurationError(f"arrival rate must be positive, got {rate:g}")
        if duration <= 0:
            raise ConfigurationError(f"duration must be positive, got {duration:g}")
        return cls(rate, (RateStage(duration, rate),), max_in_flight)

    @property
    def total_duration(self) -> float:
        return sum(stage.duration for stage in self.stages)

    @property
    def is_constant(self) -> bool:
        return len(self.stages) == 1 and self.stages[0].target == self.start_rate

    @property
    def expected_arrivals(self) -> int:
        """Arrivals in the whole timetable: the area under the rate curve, rounded up."""
        area, rate = 0.0, self.start_rate
        for stage in self.stages:
            area += (rate + stage.target) / 2 * stage.duration
            rate = stage.target
        return math.ceil(area - 1e-9)

    @property
    def mean_rate(self) -> float:
        return self.expected_arrivals / self.total_duration

    def due_times(self) -> Iterator[float]:
        """Seconds from the start at which each iteration is due: arrival k is due when the
        integral of the rate reaches k (so a constant rate r gives 0, 1/r, 2/r, ...)."""
        total = self.expected_arrivals
        offset, cumulative, rate, arrival = 0.0, 0.0, self.start_rate, 0
        for stage in self.stages:
            slope = (stage.target - rate) / (2 * stage.duration)
            area = (rate + stage.target) / 2 * stage.duration
            while arrival < total and arrival - cumulative < area:
                x = arrival - cumulative
                # root of slope·t² + rate·t = x, in the form that stays exact when slope or
                # rate is zero
                root = math.sqrt(max(rate * rate + 4 * slope * x, 0.0))
                yield offset + (2 * x / (rate + root) if x > 0 else 0.0)
                arrival += 1
            offset += stage.duration
            cumulative += area
            rate = stage.target

    def scaled(self, factor: float, max_in_flight: int) -> ArrivalRate:
        """This plan at `factor` times the rate: one worker's share."""
        stages = tuple(RateStage(stage.duration, stage.target * factor) for stage in self.stages)
        return ArrivalRate(self.start_rate * factor, stages, max_in_flight)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "arrival_rate",
            "start_rate": self.start_rate,
            "stages": [{"duration": s.duration, "target": s.target} for s in self.stages],
            "max_in_flight": self.max_in_flight,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArrivalRate:
        stages = tuple(RateStage(s["duration"], s["target"]) for s in data["stages"])
        return cls(float(data["start_rate"]), stages, int(data["max_in_flight"]))


def parse_rate_stages(text: str, max_in_flight: int = 1000) -> ArrivalRate:
    """Parse `[start,]<duration>:<rate>,...`, e.g. `10,30s:50,2m:200,30s:0` (start rate 10/s)."""
    parts = [piece.strip() for piece in text.split(",")]
    start = 0.0
    if parts and ":" not in parts[0]:
        try:
            start = float(parts.pop(0))
        except ValueError:
            raise ConfigurationError(
                f"rate {text!r}: write a rate (200), or [start,]<duration>:<rate>,..."
                " e.g. 30s:50,2m:200,30s:0"
            ) from None
    stages = []
    for part in parts:
        duration_text, separator, target_text = part.partition(":")
        if not separator:
            raise ConfigurationError(
                f"rate stage {part!r}: write <duration>:<rate>, e.g. --rate 30s:50,2m:200"
            )
        try:
            target = float(target_text)
        except ValueError:
            raise ConfigurationError(
                f"rate stage {part!r}: {target_text!r} is not a rate"
            ) from None
        stages.append(RateStage(parse_duration(duration_text), target))
    return ArrivalRate(start, tuple(stages), max_in_flight)


def parse_stages(text: str) -> Stages:
    """Parse `30s:50,2m:200,30s:0`; each stage is `<duration>:<target users>`."""
    stages = []
    for part in (piece.strip() for piece in text.split(",")):
        duration_text, separator, target_text = part.partition(":")
        if not separator:
            raise ConfigurationError(
                f"stage {part!r}: write <duration>:<users>, e.g. --stages 30s:50,2m:200,30s:0"
            )
        duration = parse_duration(duration_text)
        try:
            target = int(target_text)
        except ValueError:
            raise ConfigurationError(
                f"stage {part!r}: {target_text!r} is not a whole number of users"
            ) from None
        if duration <= 0 or target < 0:
            raise ConfigurationError(
                f"stage {part!r}: the duration must be positive and the users at least 0"
            )
        stages.append(Stage(duration, target))
    if not any(stage.target for stage in stages):
        raise ConfigurationError(f"stages {text!r} never start a user")
    return Stages(tuple(stages))
