"""The CI files (cloudbuild.yaml, .github/workflows/release.yml) call the release CLI as agreed.

`nox -s lint` checks both files against check-jsonschema's bundled schemas; these tests check
what a schema cannot: the stages and their order, the image path, the release commands and
their flags, and keyless authentication in GitHub Actions.
"""

import re
import shlex
import subprocess
import sys

import pytest
import yaml

from tests.loadtest.conftest import REPO

CLOUDBUILD = yaml.safe_load((REPO / "cloudbuild.yaml").read_text(encoding="utf-8"))
WORKFLOW = yaml.safe_load((REPO / ".github/workflows/release.yml").read_text(encoding="utf-8"))
IMAGE = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPO}/${_IMAGE}:$SHORT_SHA"
# The release CLI's contract: subcommand -> the flags every call gives it.
CONTRACT = {
    "deploy": {"--env", "--image", "--sha"},
    "gate": {"--env", "--sha"},
    "canary": {"--env", "--sha"},
}


def release_calls(script: str) -> list[tuple[str, dict[str, str]]]:
    """(subcommand, {flag: value}) of each `nox ... -s release -- SUB ...` line of a script."""
    calls = []
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] != ["nox"] or "release" not in words or "--" not in words:
            continue
        sub, *rest = words[words.index("--") + 1 :]
        calls.append((sub, dict(zip(rest[::2], rest[1::2], strict=True))))
    return calls


def cloudbuild_step(step_id: str) -> dict:
    return next(step for step in CLOUDBUILD["steps"] if step["id"] == step_id)


def test_cloud_build_tests_builds_pushes_then_releases_staging_before_production():
    assert [step["id"] for step in CLOUDBUILD["steps"]] == [
        "test",
        "build",
        "push",
        "release-staging",
        "release-production",
    ]
    assert "nox -s lint unit fuzz loadtest" in cloudbuild_step("test")["args"][-1]


def test_cloud_build_pushes_to_artifact_registry_not_container_registry():
    assert cloudbuild_step("build")["args"] == ["build", "--tag", IMAGE, "."]
    assert cloudbuild_step("push")["args"] == ["push", IMAGE]
    for step_id in ("release-staging", "release-production"):
        assert f"IMAGE={IMAGE}" in cloudbuild_step(step_id)["env"]
    assert not re.search(r"gcr\.io/\$PROJECT_ID", (REPO / "cloudbuild.yaml").read_text())


@pytest.mark.parametrize("env", ["staging", "production"])
def test_cloud_build_deploys_gates_and_canaries_each_environment(env):
    step = cloudbuild_step(f"release-{env}")
    assert f"RELEASE_ENV={env}" in step["env"]
    calls = release_calls(step["args"][-1])
    assert [sub for sub, _ in calls] == ["deploy", "gate", "canary"]
    for sub, flags in calls:
        assert set(flags) == CONTRACT[sub]
        assert flags["--env"] == "$$RELEASE_ENV" and flags["--sha"] == "$$SHA"
    assert calls[0][1]["--image"] == "$$IMAGE"


def test_github_jobs_run_in_order_with_keyless_auth():
    jobs = WORKFLOW["jobs"]
    assert jobs["build"]["needs"] == "test"
    assert jobs["release-staging"]["needs"] == "build"
    assert "release-staging" in jobs["release-production"]["needs"]
    assert WORKFLOW["permissions"] == {"contents": "read"}
    for name, job in jobs.items():
        auth = [
            s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")
        ]
        if not auth:
            continue
        assert job["permissions"]["id-token"] == "write", name
        for step in auth:
            assert step["with"]["workload_identity_provider"] == "${{ vars.WIF_PROVIDER }}"
            assert "credentials_json" not in step["with"]  # no service-account key


@pytest.mark.parametrize("env", ["staging", "production"])
def test_github_deploys_gates_with_an_id_token_and_canaries(env):
    job = WORKFLOW["jobs"][f"release-{env}"]
    assert job["env"]["RELEASE_ENV"] == env and job["environment"] == env
    script = "\n".join(step.get("run", "") for step in job["steps"])
    calls = release_calls(script)
    assert [sub for sub, _ in calls] == ["deploy", "gate", "canary"]
    for sub, flags in calls:
        assert set(flags) == CONTRACT[sub]
    gate = next(s for s in job["steps"] if " gate " in s.get("run", ""))
    token_env = gate["env"]["LOADTEST_ID_TOKEN"]
    assert token_env == "${{ steps.gate-token.outputs.id_token }}"  # noqa: S105 - an expression
    token = next(s for s in job["steps"] if s.get("id") == "gate-token")
    assert token["with"]["token_format"] == "id_token"  # noqa: S105 - a format name


@pytest.mark.parametrize("sub", sorted(CONTRACT))
def test_the_release_cli_accepts_the_flags_the_ci_files_pass(sub):
    pytest.importorskip(
        "release.cli", reason="the release package (issue 13 core) or its extra is not installed"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "release", sub, "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    for flag in CONTRACT[sub]:
        assert flag in completed.stdout
