"""The release state, kept in an annotation on the Service itself.

It travels with every change of the Service (same call, same etag), so an interrupted release
resumes where it stopped, and a second release is refused while one runs. Service annotations
are meant for external tools and "should be preserved when modifying objects" (run_v2
Service.annotations); the run.googleapis.com and other system namespaces are refused there, so
the key uses the toolkit's own prefix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from google.cloud import run_v2

ANNOTATION = "fashion-serve.dev/release"
# Service annotations follow Kubernetes' limits (run_v2 Service.annotations): all of them
# together at most 256 KiB. The state stays well below, leaving room for other tools.
MAX_STATE_BYTES = 64 * 1024
# A release in these phases is still running; it ends promoted, rolled_back, stopped or failed.
ACTIVE = ("deployed", "gated", "canary")


@dataclass
class ReleaseState:
    id: str
    sha: str
    canary: str
    tag: str
    stable: str | None
    phase: str = "deployed"
    before: list[list[Any]] = field(default_factory=list)  # serving before: [rev, %, tag]
    gate: str = "not run"
    step: int = 0
    step_started: float | None = None  # epoch seconds when the step's traffic was verified
    window_end: float | None = None  # end of the last metric window read
    checks: list[dict[str, Any]] = field(default_factory=list)  # every analysis, in order
    outcome: str = ""

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)


class StateError(ValueError):
    """The annotation is there but cannot be read: someone edited it by hand."""


def read(service: run_v2.Service | None) -> ReleaseState | None:
    if service is None or ANNOTATION not in service.annotations:
        return None
    try:
        data = json.loads(service.annotations[ANNOTATION])
        return ReleaseState(**data)
    except (ValueError, TypeError) as error:
        raise StateError(
            f"annotation {ANNOTATION} on the service is not a release state: {error}"
        ) from None


def write(service: run_v2.Service, state: ReleaseState) -> None:
    """Put the state on the Service, merging finished steps' windows if it grows too large."""
    text = state.to_json()
    if len(text.encode()) > MAX_STATE_BYTES:
        compact(state)
        text = state.to_json()
    service.annotations[ANNOTATION] = text


def compact(state: ReleaseState) -> None:
    """One window per finished step. Within a step the canary's traffic share is the same in
    every window, so the summed pair gives compare_to_baseline the same statistic (slo/stats.py
    conditions on each window's share), and judge_rate only sees the canary's totals."""
    merged: list[dict[str, Any]] = []
    for check in state.checks:
        last = merged[-1] if merged else None
        if last is not None and last["step"] == check["step"] and check["step"] < state.step:
            for side in ("canary", "baseline"):
                for name, (bad, total) in check[side].items():
                    last[side][name] = [last[side][name][0] + bad, last[side][name][1] + total]
            last["end"], last["verdict"] = check["end"], check.get("verdict")
            last["merged"] = last.get("merged", 1) + 1
        else:
            merged.append(json.loads(json.dumps(check)))
    state.checks = merged
