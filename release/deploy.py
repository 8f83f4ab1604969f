"""`deploy`: the new revision with no traffic, in one call; `gate`: the load test on its tag URL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from google.cloud import run_v2

from release import spec, state
from release import traffic as traffic_lists
from release.cloudrun import OperationFailed, Refused, tag_uri
from release.context import EXIT_CANNOT, EXIT_FAILED, EXIT_OK, STATE_FIELDS, Context, Stop
from release.state import ReleaseState
from release.traffic import Target


def deploy(ctx: Context, image: str, sha: str) -> int:
    """One CreateService (first time) or UpdateService that adds the revision at 0%.

    The call carries the etag of the Service as read, so a change made meanwhile is refused.
    Run again for the same sha while the release runs, it deploys nothing (resume).
    """
    env = ctx.env
    revision, tag = spec.revision_name(env, sha), spec.canary_tag(sha)
    template = spec.build_template(env, image, sha)
    service = ctx.cloud.get()
    running = state.read(service)
    if running is not None and running.active:
        if running.sha == sha:
            return _already_deployed(ctx, service, running)
        raise Stop(
            EXIT_CANNOT,
            f"release {running.id} (sha {running.sha}) is still running ({running.phase}): "
            "finish it (canary, promote or rollback) before starting another",
        )
    release_id = f"{sha}-{datetime.fromtimestamp(ctx.clock(), UTC):%Y%m%dT%H%M%SZ}"
    if service is None:
        return _create(ctx, spec.build_service(env, image, sha), release_id, sha)
    warning = traffic_lists.pinned_warning(service)
    if warning:
        ctx.say(f"warning: {warning}")
    before = traffic_lists.serving(service)
    stable = traffic_lists.stable_revision(before)
    new = ReleaseState(release_id, sha, revision, tag, stable, before=traffic_lists.rows(before))
    targets = traffic_lists.for_deploy(before, revision, tag)
    service.template = template
    if env.audience not in service.custom_audiences:
        service.custom_audiences.append(env.audience)
    service.labels.update(spec.MANAGED_BY)
    state.write(service, new)
    ctx.say(f"deploying {revision} ({image}) at 0% with tag {tag}; serving stays {_show(before)}")
    try:
        result = ctx.cloud.update(service, targets)
    except OperationFailed as error:
        return _undo_failed_deploy(ctx, new, before, str(error))
    ctx.write_record(new)
    ctx.say(f"deployed {revision}; tag URL {tag_uri(result, tag)}")
    return EXIT_OK


def _already_deployed(ctx: Context, service: run_v2.Service, running: ReleaseState) -> int:
    """A second deploy of the running release deploys nothing. If the first was cut short,
    its operation may since have failed: check what serves, as the first deploy would have."""
    if running.phase == "deployed":
        try:
            ctx.cloud.verify(traffic_lists.of_spec(service))
        except OperationFailed as error:
            before = traffic_lists.from_rows(running.before)
            return _undo_failed_deploy(ctx, running, before, str(error))
    ctx.say(f"release {running.id} is already deployed ({running.phase}): nothing to do")
    return EXIT_OK


def _create(ctx: Context, service: run_v2.Service, release_id: str, sha: str) -> int:
    """The first deploy: nothing serves yet, so the revision gets 100% (and no canary)."""
    revision, tag = service.template.revision, spec.canary_tag(sha)
    new = ReleaseState(release_id, sha, revision, tag, stable=None)
    state.write(service, new)
    ctx.say(f"creating {ctx.env.service_name} with {revision} (first release: no baseline)")
    try:
        result = ctx.cloud.create(service, [Target(revision, 100, tag)])
    except OperationFailed as error:
        new.phase, new.outcome = "failed", str(error)
        ctx.write_record(new)
        raise Stop(EXIT_FAILED, f"the first deploy failed: {error}") from None
    ctx.write_record(new)
    ctx.say(f"created; tag URL {tag_uri(result, tag)}")
    return EXIT_OK


def _undo_failed_deploy(ctx: Context, new: ReleaseState, before: list[Target], why: str) -> int:
    """The revision did not become ready: Cloud Run kept serving the old state. Put the spec
    back to that traffic (the failed revision out of it) and record the failure."""
    ctx.say(f"deploy failed: {why}")
    new.phase, new.outcome = "failed", f"deploy failed: {why}"
    service = ctx.service()
    state.write(service, new)
    try:
        ctx.cloud.update(service, before, STATE_FIELDS)
    except OperationFailed:
        # Robust to either behaviour of the API: what matters is what serves.
        serving = traffic_lists.serving(ctx.service())
        if not traffic_lists.same(serving, before):
            raise Stop(
                EXIT_CANNOT, f"after the failed deploy, traffic is {_show(serving)}"
            ) from None
    ctx.write_record(new)
    ctx.say(f"traffic unchanged: {_show(before)}")
    return EXIT_FAILED


def gate(ctx: Context, sha: str, loadtest_args: list[str]) -> int:
    """The Locust gate (`python -m loadtest`) against the canary's tag URL, judged on the same
    SLO file as the canary. Its exit code is the gate's: 1 or 2 stop the release, with the
    traffic as it is (the canary at 0%).

    The identity token is asked for the environment's `audience`, which deploy adds to the
    service's custom_audiences: Cloud Run accepts a token whose audience is the service's
    *.run.app URL or one of its custom audiences (Cloud Run docs, "Configure custom
    audiences"); whether a tag URL counts as the service's URL is not documented, so the
    release does not depend on it.
    """
    service, current = ctx.running(sha)
    uri = tag_uri(service, current.tag)
    if uri is None:
        raise Stop(EXIT_CANNOT, f"the service has no URL for tag {current.tag}")
    report_dir = ctx.reports / current.id / "gate"
    command = [
        sys.executable,
        "-m",
        "loadtest",
        "--host",
        uri,
        "--audience",
        ctx.env.audience,
        "--report-dir",
        str(report_dir),
        "--slo-file",
        str(ctx.env.slos.source),
        *ctx.env.gate_args,
        *loadtest_args,
    ]
    ctx.say(f"gate: load test of {uri} (token audience {ctx.env.audience})")
    code = subprocess.run(command, check=False).returncode  # noqa: S603 - our interpreter
    current.gate = {0: "passed", 1: "failed"}.get(code, "cannot judge")
    if code != 0:
        current.phase = "failed" if code == 1 else "stopped"
        current.outcome = f"the load gate exited {code} ({current.gate}); traffic unchanged"
    else:
        current.phase = "gated"
    try:
        ctx.save(service, current)
    except (Refused, OperationFailed) as error:
        raise Stop(
            EXIT_CANNOT, f"gate {current.gate}, but the state was not saved: {error}"
        ) from None
    ctx.say(f"gate {current.gate}; report in {report_dir}")
    return code if code in (EXIT_OK, EXIT_FAILED) else EXIT_CANNOT


def _show(targets: list[Target]) -> str:
    return ", ".join(f"{t.revision}={t.percent}%" for t in targets if t.percent) or "nothing"
