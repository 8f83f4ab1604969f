"""`validate` and `render`: the environment file checked field by field, the Service it gives."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from release.cli import main
from release.environment import ENVIRONMENTS_DIR


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def edited(tmp_path: Path, change) -> Path:
    document = yaml.safe_load((ENVIRONMENTS_DIR / "staging.yaml").read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_the_shipped_environments_are_valid() -> None:
    code, out = run("validate")
    assert code == 0
    assert "staging.yaml: valid" in out and "production.yaml: valid" in out


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda d: d["container"].pop("memory"), "container.memory", "is required"),
        (lambda d: d["container"].update(cpu=3), "container.cpu", "must be 1, 2, 4, 6 or 8"),
        (
            lambda d: d["container"]["env"].pop("ENDPOINT_ID"),
            "container.env.ENDPOINT_ID",
            "is required",
        ),
        (
            lambda d: d["container"].update(concurrency=5000),
            "container.concurrency",
            "from 1 to 1000",
        ),
        (lambda d: d["probes"].update(timeout="20s"), "probes.timeout", "must not exceed period"),
        (
            lambda d: d["canary"]["steps"].pop(),
            "canary.steps[1].percent",
            "the last step must be 100",
        ),
        (lambda d: d["canary"]["steps"][1].update(percent=5), "canary.steps[1].percent", "larger"),
        (lambda d: d["canary"].update(poll="soon"), "canary.poll", "expected a duration"),
        (lambda d: d.update(audience="http://x"), "audience", "https://"),
        (lambda d: d.update(colour="blue"), "colour", "unknown field"),
        (lambda d: d["gate"].update(args=["--host", "x"]), "gate.args", "--host is the tag URL"),
    ],
)
def test_validate_names_the_file_the_field_and_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change, field: str, reason: str
) -> None:
    path = edited(tmp_path, change)

    code, _ = run("validate", "--env", str(path))

    assert code == 2
    error = capsys.readouterr().err
    assert f"{path}: {field}: " in error and reason in error
    assert "Traceback" not in error


def test_a_file_that_is_not_yaml_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("project: [unclosed\n", encoding="utf-8")
    assert run("validate", "--env", str(path))[0] == 2
    assert "is not valid YAML" in capsys.readouterr().err


def test_render_gives_the_service_as_the_design_document_deployed_it() -> None:
    image = "europe-west1-docker.pkg.dev/fashion-serve-staging/serving/prediction-service:1a2b3c4"

    code, out = run("render", "--env", "staging", "--image", image, "--sha", "1a2b3c4")

    assert code == 0
    document = json.loads(out)
    service = document["service"]
    template = service["template"]
    (container,) = template["containers"]
    assert document["service_id"] == "prediction-service"
    assert template["revision"] == "prediction-service-1a2b3c4"
    assert container["image"] == image
    assert container["resources"]["limits"] == {"memory": "512Mi", "cpu": "1"}
    assert template["max_instance_request_concurrency"] == 80
    assert template["timeout"] == "300s"
    assert template["scaling"] == {"max_instance_count": 5}  # min 0 is the proto default
    assert template["service_account"].startswith("prediction-runtime@")
    env = {item["name"]: item["value"] for item in container["env"]}
    assert set(env) == {"PROJECT_ID", "LOCATION", "ENDPOINT_ID", "BACKEND"}
    for probe, path in (("startup_probe", "/ready"), ("liveness_probe", "/")):
        assert container[probe] == {
            "initial_delay_seconds": 7,
            "timeout_seconds": 5,
            "period_seconds": 10,
            "failure_threshold": 3,
            "http_get": {"path": path},
        }
    # Authenticated callers only: the IAM invoker check stays on, the gate's audience is set.
    assert service.get("invoker_iam_disabled", False) is False
    assert service["custom_audiences"] == [
        "https://prediction-service.staging.fashion-serve.internal"
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--image", "not an image", "--sha", "1a2b3c4"], "--image must be an image URI"),
        (["--image", "europe-west1-docker.pkg.dev/p/r/i:1", "--sha", "XYZ"], "--sha must be"),
    ],
)
def test_render_refuses_a_wrong_image_or_sha(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("render", "--env", "staging", *flags)[0] == 2
    assert message in capsys.readouterr().err
