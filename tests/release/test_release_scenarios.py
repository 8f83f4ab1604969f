"""A release end to end through `python -m release`, against the local Cloud Run and Monitoring:
the real clients, long-running operations, etags, and metrics from a scripted canary."""

from __future__ import annotations

import itertools
import json
import signal
import time

from release import state as release_state
from tests.release.conftest import CANARY, GOOD, IMAGE, SHA, STABLE, Runner
from tests.release.fake import FakeCloud, RevisionScript


def serving(cloud: FakeCloud) -> list[tuple[str, int]]:
    """(revision, percent) of what serves, without tags, sorted; 0% entries left out."""
    service = cloud.service()
    return sorted((s.revision, s.percent) for s in service.traffic_statuses if s.percent)


def state_of(cloud: FakeCloud) -> dict:
    return json.loads(cloud.service().annotations[release_state.ANNOTATION])


def decision(runner: Runner) -> dict:
    (path,) = runner.reports.glob("*/decision.json")
    return json.loads(path.read_text(encoding="utf-8"))


def deploy(runner: Runner) -> None:
    result = runner.run("deploy", "--image", IMAGE, "--sha", SHA)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_good_canary_goes_through_every_step_and_is_promoted(runner: Runner) -> None:
    cloud = runner.cloud
    cloud.metrics.baseline = cloud.metrics.scripts[CANARY] = GOOD
    deploy(runner)
    assert serving(cloud) == [(STABLE, 100)]
    tags = {s.tag: s for s in cloud.service().traffic_statuses}
    assert tags[f"c-{SHA}"].revision == CANARY and tags[f"c-{SHA}"].percent == 0
    assert tags[f"c-{SHA}"].uri.startswith(f"https://c-{SHA}---")

    result = runner.run("canary", "--sha", SHA, "--no-gate")

    assert result.returncode == 0, result.stdout + result.stderr
    assert serving(cloud) == [(CANARY, 100)]
    tags = {s.tag: s.revision for s in cloud.service().traffic_statuses}
    assert tags["stable"] == CANARY and tags["prior"] == STABLE
    shares = [shares for _, shares in cloud.run.history]
    assert {CANARY: 10, STABLE: 90} in shares and {CANARY: 50, STABLE: 50} in shares
    record = decision(runner)
    assert record["phase"] == "promoted"
    assert [step["verdict"] for step in record["steps"]] == ["PASS", "PASS", "PASS"]
    last = record["steps"][0]["checks"][-1]
    for name in ("availability", "latency"):
        judged = last["judgement"]["objectives"][name]
        assert set(judged["rate"]["thresholds"]) >= {"fail_at", "pass_at"}
        assert "fail_at" in judged["comparison"]["thresholds"]
        assert judged["canary"][1] > 0 and judged["baseline"][1] > 0
    page = next(runner.reports.glob("*/decision.html")).read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "<script" not in page


def canary_leaves_stable_serving(runner: Runner, exit_code: int, phase: str) -> dict:
    """Deploy, run the canary; it must end with `exit_code`, the stable revision at 100%."""
    deploy(runner)

    result = runner.run("canary", "--sha", SHA, "--no-gate")

    assert result.returncode == exit_code, result.stdout + result.stderr
    assert serving(runner.cloud) == [(STABLE, 100)]
    record = decision(runner)
    assert record["phase"] == phase
    return record


def _rolled_back_at_first_step(runner: Runner, bad: RevisionScript) -> None:
    cloud = runner.cloud
    cloud.metrics.baseline, cloud.metrics.scripts[CANARY] = GOOD, bad
    record = canary_leaves_stable_serving(runner, 1, "rolled_back")
    assert record["steps"][0]["verdict"] == "FAIL"
    assert record["steps"][1]["checks"] == []  # never went past the first step
    assert {CANARY: 50, STABLE: 50} not in [shares for _, shares in cloud.run.history]


def test_a_canary_with_five_times_the_errors_is_rolled_back_at_the_first_step(
    runner: Runner,
) -> None:
    _rolled_back_at_first_step(runner, RevisionScript(error_share=0.001, slow_share=0.002))
    failed = decision(runner)["steps"][0]["checks"][-1]["judgement"]["objectives"]
    assert failed["availability"]["verdict"] == "FAIL"


def test_a_canary_five_times_slower_in_its_tail_is_rolled_back_at_the_first_step(
    runner: Runner,
) -> None:
    _rolled_back_at_first_step(runner, RevisionScript(error_share=0.0002, slow_share=0.01))
    check = decision(runner)["steps"][0]["checks"][-1]
    assert check["judgement"]["objectives"]["latency"]["verdict"] == "FAIL"
    # 200 ms falls inside an exponential bucket: the bucket holding it counts as slow.
    assert check["effective_threshold_ms"]["latency"] < 200


def test_zero_traffic_cannot_be_judged_and_leaves_traffic_as_before(runner: Runner) -> None:
    runner.cloud.metrics.requests_per_s = 0.0
    record = canary_leaves_stable_serving(runner, 2, "stopped")
    assert record["steps"][0]["verdict"] == "NOT ENOUGH DATA"


def test_a_release_killed_mid_step_resumes_where_it_stopped(runner: Runner) -> None:
    cloud = runner.cloud
    cloud.metrics.baseline = cloud.metrics.scripts[CANARY] = GOOD
    runner.env_file.write_text(
        runner.env_file.read_text(encoding="utf-8").replace("min_duration: 0.6", "min_duration: 2"),
        encoding="utf-8",
    )
    deploy(runner)
    process = runner.start("canary", "--sha", SHA, "--no-gate")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        current = state_of(cloud)
        if current["step"] == 1 and current["checks"] and current["checks"][-1]["step"] == 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    killed_at = state_of(cloud)
    assert killed_at["step"] == 1 and killed_at["phase"] == "canary"
    revisions_before = set(cloud.run.templates)

    again = runner.run("deploy", "--image", IMAGE, "--sha", SHA)  # no second deploy
    resumed = runner.run("canary", "--sha", SHA, "--no-gate")

    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming step 2" in resumed.stdout
    assert set(cloud.run.templates) == revisions_before
    assert serving(cloud) == [(CANARY, 100)]
    checks = state_of(cloud)["checks"]
    assert checks[: len(killed_at["checks"])] == killed_at["checks"]  # nothing lost
    assert [c["step"] for c in checks] == sorted(c["step"] for c in checks)
    assert {c["step"] for c in checks} == {0, 1, 2}
    ends = [c["end"] for c in checks]
    assert all(a < b for a, b in itertools.pairwise(ends))  # no window read twice


def test_a_failed_operation_shifts_no_traffic(runner: Runner) -> None:
    cloud = runner.cloud
    cloud.run.failing_images.add(IMAGE)

    result = runner.run("deploy", "--image", IMAGE, "--sha", SHA)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "not ready" in result.stdout
    assert serving(cloud) == [(STABLE, 100)]
    assert CANARY not in {t.revision for t in cloud.service().traffic}
    assert state_of(cloud)["phase"] == "failed"
    # The failed release does not block the next one.
    cloud.run.failing_images.clear()
    fixed = runner.run("deploy", "--image", IMAGE.replace(SHA, "5d6e7f8"), "--sha", "5d6e7f8")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_a_second_release_is_refused_while_one_runs(runner: Runner) -> None:
    deploy(runner)
    other = runner.run("deploy", "--image", IMAGE.replace(SHA, "5d6e7f8"), "--sha", "5d6e7f8")
    assert other.returncode == 2
    assert f"{SHA}" in other.stderr and "still running" in other.stderr
    assert f"{runner.cloud.service().template.revision}" == CANARY
