"""The Cloud Run side of a release, in-process through `main(argv)` and the real run_v2 client:
etag refusal, the first deploy, the pinned-traffic warning, the commands around the canary."""

from __future__ import annotations

import io
import json

import grpc
import pytest
from google.cloud import run_v2

from release import cloudrun, environment
from release.cli import main
from release.clients import build_clients
from release.traffic import Target
from tests.release.conftest import CANARY, GOOD, IMAGE, SHA, STABLE, Runner


def run(runner: Runner, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    command, rest = argv[0], list(argv[1:])
    flags = ["--env", str(runner.env_file), "--endpoint", runner.cloud.endpoint]
    code = main([command, *flags, "--reports", str(runner.reports), *rest], out=out)
    return code, out.getvalue()


def deploy(runner: Runner, sha: str = SHA) -> tuple[int, str]:
    return run(runner, "deploy", "--image", IMAGE.replace(SHA, sha), "--sha", sha)


def test_an_update_with_a_stale_etag_is_refused_and_changes_nothing(runner: Runner) -> None:
    env = environment.load(str(runner.env_file))
    clients = build_clients(runner.cloud.endpoint)
    api = cloudrun.CloudRun(clients, env, poll_s=0.05)
    read = api.get()
    meanwhile = api.get()
    meanwhile.labels["changed-by"] = "someone-else"
    api.update(meanwhile, [Target(STABLE, 100)])  # a change made after `read`

    read.labels["changed-by"] = "release"
    with pytest.raises(cloudrun.Refused, match="changed since it was read"):
        api.update(read, [Target(STABLE, 100, "stable")])
    clients.close()
    assert runner.cloud.service().labels["changed-by"] == "someone-else"


def test_the_deploy_sends_one_update_with_the_etag_and_the_gate_audience(runner: Runner) -> None:
    etag = runner.cloud.service().etag
    assert deploy(runner)[0] == 0
    (update,) = runner.cloud.state.requests["UpdateService"]
    assert update.service.etag == etag
    assert update.service.template.revision == CANARY
    assert (
        "https://prediction-service.staging.fashion-serve.internal"
        in update.service.custom_audiences
    )
    assert runner.cloud.calls["CreateService"] == 0


def test_the_first_deploy_creates_the_service(runner: Runner) -> None:
    del runner.cloud.run.services[runner.cloud.service_name]

    code, out = deploy(runner)

    assert code == 0, out
    assert runner.cloud.calls["CreateService"] == 1
    service = runner.cloud.service()
    assert [(s.revision, s.percent) for s in service.traffic_statuses] == [(CANARY, 100)]
    assert "first release" in out


def test_the_deploy_warns_when_pinned_traffic_left_the_latest_revision_without_any(
    runner: Runner,
) -> None:
    """google-github-actions/deploy-cloudrun#202: a revision deployed while traffic was pinned."""
    assert deploy(runner)[0] == 0
    assert run(runner, "rollback")[0] == 1  # stable pinned at 100%, the canary latest at 0%
    code, out = deploy(runner, "5d6e7f8")
    assert code == 0
    assert f"warning: the latest revision {CANARY} serves 0%" in out


def test_canary_without_a_passed_gate_is_refused(runner: Runner, capsys) -> None:
    assert deploy(runner)[0] == 0
    code, _ = run(runner, "canary", "--sha", SHA)
    assert code == 2
    assert "run `gate` first" in capsys.readouterr().err


def test_promote_and_rollback_as_commands_of_their_own(runner: Runner) -> None:
    assert deploy(runner)[0] == 0
    assert run(runner, "promote", "--sha", SHA)[0] == 0
    statuses = {s.tag: (s.revision, s.percent) for s in runner.cloud.service().traffic_statuses}
    assert statuses["stable"] == (CANARY, 100) and statuses["prior"] == (STABLE, 0)

    code, _ = run(runner, "rollback")

    assert code == 1  # rolled back
    statuses = {s.tag: (s.revision, s.percent) for s in runner.cloud.service().traffic_statuses}
    assert statuses["stable"] == (STABLE, 100)
    code, out = run(runner, "status")
    assert code == 0
    assert json.loads(out)["release"]["phase"] == "rolled_back"
    # After the deploy, only traffic and the state change: the template is never sent again.
    deploy_call, *moves = runner.cloud.state.requests["UpdateService"]
    assert list(deploy_call.update_mask.paths) == []
    assert [list(m.update_mask.paths) for m in moves] == [["traffic", "annotations"]] * 2


def test_commands_on_a_missing_service_or_release_say_so(runner: Runner, capsys) -> None:
    assert run(runner, "promote", "--sha", SHA)[0] == 2
    assert "no release has been deployed" in capsys.readouterr().err
    del runner.cloud.run.services[runner.cloud.service_name]
    assert run(runner, "status")[0] == 2
    assert "does not exist: deploy first" in capsys.readouterr().err


def test_an_api_error_is_a_refusal_not_a_traceback(runner: Runner, capsys) -> None:
    runner.cloud.state.fail_once["GetService"] = (
        grpc.StatusCode.PERMISSION_DENIED,
        "no run.services.get",
    )
    assert deploy(runner)[0] == 2
    error = capsys.readouterr().err
    assert "no run.services.get" in error and "Traceback" not in error


def test_traffic_types_sent_are_always_pinned_revisions(runner: Runner) -> None:
    assert deploy(runner)[0] == 0
    (update,) = runner.cloud.state.requests["UpdateService"]
    revision = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
    assert {t.type_ for t in update.service.traffic} == {revision.value}


def test_the_first_release_has_no_baseline_and_is_judged_on_the_slos_alone(
    runner: Runner,
) -> None:
    del runner.cloud.run.services[runner.cloud.service_name]
    runner.cloud.metrics.baseline = runner.cloud.metrics.scripts[CANARY] = GOOD
    assert deploy(runner)[0] == 0

    code, out = run(runner, "canary", "--sha", SHA, "--no-gate")

    assert code == 0, out
    assert "step 3: 100%" in out and "step 1" not in out
    statuses = {s.tag: (s.revision, s.percent) for s in runner.cloud.service().traffic_statuses}
    assert statuses == {"stable": (CANARY, 100)}


def test_a_deploy_run_again_after_its_operation_failed_puts_the_traffic_back(
    runner: Runner,
) -> None:
    """As if the first deploy was killed before its operation ended, and the revision failed."""
    runner.cloud.run.failing_images.add(IMAGE)
    env = environment.load(str(runner.env_file))
    clients = build_clients(runner.cloud.endpoint)
    service = cloudrun.CloudRun(clients, env).get()
    service.template.revision = CANARY
    service.template.containers[0].image = IMAGE
    state = {"id": "x", "sha": SHA, "canary": CANARY, "tag": f"c-{SHA}", "stable": STABLE}
    state["before"] = [[STABLE, 100, ""]]
    service.annotations["fashion-serve.dev/release"] = json.dumps(state)
    service.traffic = [
        Target(STABLE, 100).message(),
        Target(CANARY, 0, f"c-{SHA}").message(),
    ]
    clients.services.update_service(request=run_v2.UpdateServiceRequest(service=service))
    clients.close()  # the first deploy "killed" here, before its operation ended
    for operation in runner.cloud.run.operations.values():
        operation.done_at = 0.0  # the revision has failed by now

    code, out = deploy(runner)

    assert code == 1, out
    service = runner.cloud.service()
    assert [(s.revision, s.percent) for s in service.traffic_statuses] == [(STABLE, 100)]
    assert CANARY not in {t.revision for t in service.traffic}
