"""Load shapes: ramping user stages (closed model) and a constant arrival rate (open model).

Stages read like k6's: `30s:50,2m:200,30s:0` ramps linearly to 50 users over 30 s, to
200 over the next 2 minutes, then down to 0. The open model is a request rate held for a
duration, whatever the server's latency.
"""

from __future__ import annotations

from dataclasses import dataclass

from overdrive.errors import ConfigurationError
from overdrive.load.units import parse_duration

__all__ = ["ArrivalRate", "Stage", "Stages", "parse_stages"]


@dataclass(frozen=True, slots=True)
class Stage:
    """Ramp linearly from the previous stage's users to `target` over `duration` seconds."""

    duration: float
    target: int


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
    """An open-model plan: `rate` iterations per second for `duration` seconds.

    `max_in_flight` bounds the iterations running at once; an arrival that finds the
    bound reached is dropped and counted, never queued (queuing would hide latency).
    """

    rate: float
    duration: float
    max_in_flight: int = 1000

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ConfigurationError(f"arrival rate must be positive, got {self.rate}")
        if self.duration <= 0:
            raise ConfigurationError(f"duration must be positive, got {self.duration}")
        if self.max_in_flight < 1:
            raise ConfigurationError(f"max in flight must be at least 1, got {self.max_in_flight}")

    @property
    def total_duration(self) -> float:
        return self.duration

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": "arrival_rate",
            "rate": self.rate,
            "duration": self.duration,
            "max_in_flight": self.max_in_flight,
        }


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
