"""`canary`: progressive traffic with an analysis after every window; `promote`, `rollback`.

Each step sets the canary's share and the state in one call, then reads finished metric windows
(`metric_delay` behind the clock) until the step has `min_duration` of data and a verdict:
FAIL rolls back at once (exit 1); PASS moves to the next step, and after the 100% step
promotes (exit 0); NOT ENOUGH DATA waits, up to `not_enough_data_limit` more, then stops the
release with the traffic as before it (exit 2). The state is saved after every window, so a
killed run resumes at the same step with the windows already read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from release import analysis, state
from release import traffic as traffic_lists
from release.cloudrun import OperationFailed, Refused
from release.context import EXIT_CANNOT, EXIT_FAILED, EXIT_OK, Context, Stop
from release.environment import Step
from release.metrics import MetricsError
from release.state import ReleaseState
from release.traffic import Target


def canary(ctx: Context, sha: str, skip_gate: bool) -> int:
    _, current = ctx.running(sha)
    if current.phase == "deployed" and not skip_gate:
        raise Stop(EXIT_CANNOT, "the gate has not passed: run `gate` first (or pass --no-gate)")
    if current.phase == "deployed":
        current.gate = "skipped (--no-gate)"
    current.phase = "canary"
    steps = ctx.env.canary.steps
    if current.stable is None:  # first release: no baseline, the revision already serves all
        current.step = max(current.step, len(steps) - 1)
    try:
        while current.step < len(steps):
            verdict = _run_step(ctx, current, steps[current.step])
            if verdict == "FAIL":
                return _rollback(ctx, current, "the canary failed its analysis")
            if verdict != "PASS":
                return _stop(ctx, current, verdict)
            current.step += 1
            current.step_started = None
        return _promote(ctx, current)
    except (Refused, MetricsError) as error:
        raise Stop(EXIT_CANNOT, f"{error}; run `canary` again to resume") from None
    except OperationFailed as error:
        return _rollback(ctx, current, f"a traffic change failed: {error}")


def _run_step(ctx: Context, current: ReleaseState, step: Step) -> str:
    settings = ctx.env.canary
    if current.step_started is None:
        service = ctx.service()
        targets = _step_targets(current, traffic_lists.serving(service), step.percent)
        current.step_started = ctx.clock()
        current.window_end = max(current.window_end or 0.0, current.step_started)
        ctx.say(f"step {current.step + 1}: {step.percent}% to {current.canary}")
        ctx.save(service, current, targets)
    else:  # resumed: the step's traffic change may have been cut short, check it served
        ctx.say(f"resuming step {current.step + 1} ({step.percent}%)")
        ctx.cloud.verify(traffic_lists.of_spec(ctx.service()))
    needed = step.min_duration.total_seconds()
    limit = needed + settings.not_enough_data_limit.total_seconds()
    while True:
        end = ctx.clock() - settings.metric_delay.total_seconds()
        read = end > current.window_end
        if read:
            _read_window(ctx, current, end, step.percent)
        covered = current.window_end - current.step_started
        verdict = current.checks[-1]["verdict"] if current.checks else "NOT ENOUGH DATA"
        if verdict == "FAIL" or (verdict == "PASS" and covered >= needed):
            return verdict
        if covered >= limit:
            return verdict
        if read:
            ctx.save(ctx.service(), current)
        ctx.sleep(settings.poll.total_seconds())


def _read_window(ctx: Context, current: ReleaseState, end: float, percent: int) -> None:
    revisions = [current.canary] + ([current.stable] if current.stable else [])
    window = ctx.metrics.window(current.window_end, end, revisions)
    empty = {o.name: [0, 0] for o in ctx.env.slos.objectives}
    check = {
        "step": current.step,
        "percent": percent,
        "start": current.window_end,
        "end": end,
        "canary": window.revisions[current.canary].counts,
        "baseline": window.revisions[current.stable].counts if current.stable else empty,
        "effective_threshold_ms": window.effective_threshold_ms,
    }
    current.checks.append(check)
    current.window_end = end
    judgement = analysis.judge(ctx.env, current.checks)
    check["verdict"] = judgement["verdict"]
    ctx.say(f"window to {_utc(end)}: {judgement['verdict']}\n{analysis.reasons(judgement)}")


def _step_targets(current: ReleaseState, serving: list[Target], percent: int) -> list[Target]:
    if current.stable is None:
        return traffic_lists.for_promote(serving, None, current.canary, current.tag)
    return traffic_lists.for_step(serving, current.stable, current.canary, current.tag, percent)


def _promote(ctx: Context, current: ReleaseState) -> int:
    service = ctx.service()
    targets = traffic_lists.for_promote(
        traffic_lists.serving(service), current.stable, current.canary, current.tag
    )
    current.phase = "promoted"
    current.outcome = f"promoted {current.canary} to 100% (stable); {current.stable} kept as prior"
    ctx.save(service, current, targets)
    ctx.say(current.outcome)
    return EXIT_OK


def _rollback(ctx: Context, current: ReleaseState, why: str) -> int:
    if current.stable is None:
        current.phase, current.outcome = "failed", f"{why}; no earlier revision to roll back to"
        ctx.write_record(current)
        ctx.say(current.outcome)
        return EXIT_FAILED
    service = ctx.service()
    targets = traffic_lists.for_rollback(
        traffic_lists.serving(service), current.stable, current.canary, current.tag
    )
    current.phase = "rolled_back"
    current.outcome = f"{why}: {current.stable} back to 100%"
    try:
        ctx.save(service, current, targets)  # one call; verified against traffic_statuses
    except (Refused, OperationFailed) as error:
        raise Stop(
            EXIT_CANNOT, f"ROLLBACK FAILED, traffic may still reach the canary: {error}"
        ) from None
    ctx.say(f"rolled back: {current.outcome}")
    return EXIT_FAILED


def _stop(ctx: Context, current: ReleaseState, verdict: str) -> int:
    """Cannot judge: traffic goes back to what served before the release, exit 2."""
    service = ctx.service()
    before = traffic_lists.from_rows(current.before)
    targets = traffic_lists.for_stop(traffic_lists.serving(service), before)
    current.phase = "stopped"
    current.outcome = (
        f"{verdict} after the step's limit: cannot judge; traffic as before the release"
    )
    ctx.save(service, current, targets)
    ctx.say(current.outcome)
    return EXIT_CANNOT


def promote(ctx: Context, sha: str) -> int:
    _, current = ctx.running(sha)
    return _promote(ctx, current)


def rollback(ctx: Context) -> int:
    """The recorded stable revision back to 100%, for a running or a promoted release."""
    service = ctx.service()
    current = state.read(service)
    if current is None or current.stable is None:
        raise Stop(EXIT_CANNOT, "no recorded stable revision to roll back to")
    if current.phase not in (*state.ACTIVE, "promoted"):
        raise Stop(EXIT_CANNOT, f"release {current.id} is {current.phase}: nothing to roll back")
    return _rollback(ctx, current, "rollback requested")


def status(ctx: Context) -> int:
    service = ctx.service()
    current = state.read(service)
    document = {
        "service": service.name,
        "serving": traffic_lists.rows(traffic_lists.serving(service)),
        "reconciling": service.reconciling,
        "release": json.loads(current.to_json()) if current else None,
    }
    if document["release"]:
        document["release"].pop("checks")
        document["release"]["windows_read"] = len(current.checks)
    print(json.dumps(document, indent=2), file=ctx.out)
    return EXIT_OK


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S.%f")[:-4] + "Z"
