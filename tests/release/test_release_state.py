"""The release state on the Service: compacted, never lost, when a long release grows it."""

from __future__ import annotations

import pytest
from google.cloud import run_v2

from release import analysis, environment, state
from release.state import ReleaseState
from tests.release.conftest import CANARY, SHA, STABLE


def window(step: int, end: float, canary: tuple[int, int], baseline: tuple[int, int]) -> dict:
    counts = {"canary": {"availability": list(canary), "latency": list(canary)}}
    counts["baseline"] = {"availability": list(baseline), "latency": list(baseline)}
    return {"step": step, "percent": 10, "start": end - 60, "end": end, **counts}


def test_a_state_too_large_keeps_one_window_per_finished_step_and_the_same_verdict() -> None:
    env = environment.load("staging")
    checks = [window(0, 60.0 * i, (i % 3, 600), (i % 5, 5400)) for i in range(1, 400)]
    checks += [window(1, 60.0 * i, (1, 3000), (2, 3000)) for i in range(400, 410)]
    current = ReleaseState("id", SHA, CANARY, f"c-{SHA}", STABLE, step=1, checks=checks)
    before = analysis.judge(env, current.checks)
    service = run_v2.Service()

    state.write(service, current)

    stored = state.read(service)
    assert len(service.annotations[state.ANNOTATION]) <= state.MAX_STATE_BYTES
    assert [c["step"] for c in stored.checks] == [0] + [1] * 10  # the running step untouched
    assert stored.checks[0]["merged"] == 399
    after = analysis.judge(env, stored.checks)
    for name in ("availability", "latency"):
        assert after["objectives"][name]["canary"] == before["objectives"][name]["canary"]
        statistic = before["objectives"][name]["comparison"]["statistic"]
        assert after["objectives"][name]["comparison"]["statistic"] == pytest.approx(statistic)
    assert after["verdict"] == before["verdict"]
