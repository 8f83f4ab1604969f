"""Load profiles as data: how the load changes over a run, chosen by name with --shape.

A profile is a list of stages, like Locust's examples/custom_shape/stages.py, but relative: each
stage ends at a share of the run's duration and sets the load to a share of the peak. The peak is
--users in the closed model (each user sends a request, thinks 0.5-1.5 s, sends the next) and
--rate in the open model (requests start on a schedule, whether or not earlier ones have been
answered). loadtest.shapes plays them in Locust; this module imports nothing from Locust so that
the command line can list and check them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    until: float  # end of the stage, as a share of the run's duration (0 < until <= 1)
    level: float  # load at the end of the stage, as a share of the peak (0 <= level <= 1)
    ramp: bool = False  # True: move linearly from the previous level; False: jump at the start


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    default_duration_s: float
    stages: tuple[Stage, ...]

    def level(self, elapsed_s: float, duration_s: float) -> float | None:
        """The share of the peak load at `elapsed_s`, or None once the run is over."""
        if elapsed_s >= duration_s:
            return None
        position = elapsed_s / duration_s
        start, previous = 0.0, 0.0
        for stage in self.stages:
            if position < stage.until:
                if not stage.ramp:
                    return stage.level
                progress = (position - start) / (stage.until - start)
                return previous + (stage.level - previous) * progress
            start, previous = stage.until, stage.level
        return self.stages[-1].level

    def mean_level(self) -> float:
        """The average share of the peak over the whole run (exact: stages are linear)."""
        total, start, previous = 0.0, 0.0, 0.0
        for stage in self.stages:
            width = stage.until - start
            average = (previous + stage.level) / 2 if stage.ramp else stage.level
            total += width * average
            start, previous = stage.until, stage.level
        return total


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "smoke",
            "a trickle (5% of the peak, at least one user) to check that everything answers",
            30,
            (Stage(1.0, 0.05),),
        ),
        Profile(
            "ramp",
            "from zero to the peak over the first quarter, then hold the peak",
            60,
            (Stage(0.25, 1.0, ramp=True), Stage(1.0, 1.0)),
        ),
        Profile(
            "step",
            "four equal steps: 25%, 50%, 75%, 100% of the peak",
            80,
            (Stage(0.25, 0.25), Stage(0.5, 0.5), Stage(0.75, 0.75), Stage(1.0, 1.0)),
        ),
        Profile(
            "spike",
            "20% of the peak, a sudden jump to the peak for a fifth of the run, back to 20%",
            60,
            (Stage(0.4, 0.2), Stage(0.6, 1.0), Stage(1.0, 0.2)),
        ),
        Profile(
            "soak",
            "a short ramp to the peak, then hold it for a long time (30 minutes by default)",
            1800,
            (Stage(0.02, 1.0, ramp=True), Stage(1.0, 1.0)),
        ),
    )
}
DEFAULT_PROFILE = "ramp"
