"""What every command of a release works with: the environment, the APIs, the clock, output."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from google.cloud import run_v2

from release import record, state
from release import traffic as traffic_lists
from release.cloudrun import CloudRun
from release.environment import Environment
from release.metrics import Metrics
from release.state import ReleaseState

EXIT_OK, EXIT_FAILED, EXIT_CANNOT = 0, 1, 2
# What a release changes after its deploy: the traffic and its state, never the template.
STATE_FIELDS = ("traffic", "annotations")


class Stop(Exception):
    """End the command with `code` after saying `message` (2: refused or cannot judge)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Context:
    env: Environment
    cloud: CloudRun
    metrics: Metrics
    reports: Path
    out: TextIO = field(default_factory=lambda: sys.stdout)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def say(self, message: str) -> None:
        print(f"release: {message}", file=self.out, flush=True)

    def service(self) -> run_v2.Service:
        service = self.cloud.get()
        if service is None:
            raise Stop(EXIT_CANNOT, f"{self.env.service_name} does not exist: deploy first")
        return service

    def running(self, sha: str | None) -> tuple[run_v2.Service, ReleaseState]:
        """The Service and its release state, which must be running (and be `sha`'s)."""
        service = self.service()
        current = state.read(service)
        if current is None:
            raise Stop(EXIT_CANNOT, "no release has been deployed to this service")
        if sha is not None and current.sha != sha:
            raise Stop(
                EXIT_CANNOT,
                f"the release on the service is {current.id} (sha {current.sha}), not {sha}",
            )
        if not current.active:
            raise Stop(EXIT_CANNOT, f"release {current.id} is already over ({current.phase})")
        return service, current

    def save(
        self,
        service: run_v2.Service,
        current: ReleaseState,
        targets: list[traffic_lists.Target] | None = None,
    ) -> run_v2.Service:
        """Write the state with `targets` (default: the traffic asked for now) in one call."""
        if targets is None:
            targets = traffic_lists.of_spec(service)
        state.write(service, current)
        result = self.cloud.update(service, targets, STATE_FIELDS)
        self.write_record(current)
        return result

    def write_record(self, current: ReleaseState) -> Path:
        return record.write(self.reports, self.env, current)
