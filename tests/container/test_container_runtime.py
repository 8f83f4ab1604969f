"""How the image runs: Gunicorn as PID 1 under a non-root user, its HEALTHCHECK, its labels,
and only the serving dependencies inside."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from container_engine import BuiltImage, Engine, RunningService
from container_project import project_version


def _proc_status_ids(status: str, field: str) -> list[int]:
    (line,) = [line for line in status.splitlines() if line.startswith(f"{field}:")]
    return [int(value) for value in line.split()[1:]]


def test_gunicorn_is_pid_1_and_runs_as_a_non_root_user(service: RunningService) -> None:
    command_line = service.engine.exec(service.container, "cat", "/proc/1/cmdline").stdout
    status = service.engine.exec(service.container, "cat", "/proc/1/status").stdout
    exec_user = service.engine.exec(service.container, "id", "-u").stdout.strip()

    assert "gunicorn" in command_line.replace("\0", " ")
    assert all(uid != 0 for uid in _proc_status_ids(status, "Uid"))
    assert all(gid != 0 for gid in _proc_status_ids(status, "Gid"))
    assert exec_user not in ("", "0")


def test_the_image_healthcheck_passes_against_the_running_service(
    engine: Engine, default_image: BuiltImage, service: RunningService
) -> None:
    healthcheck = engine.image_healthcheck(default_image.tag)

    assert healthcheck and healthcheck[0] == "CMD", healthcheck
    result = engine.exec(service.container, *healthcheck[1:])
    assert result.returncode == 0, result.stderr


def test_the_labels_carry_the_version_and_git_revision(
    engine: Engine, default_image: BuiltImage
) -> None:
    labels = engine.image_labels(default_image.tag)

    assert labels["org.opencontainers.image.version"] == project_version()
    assert labels["org.opencontainers.image.revision"] == default_image.build_args["GIT_REVISION"]


@pytest.mark.parametrize("module", ["torch", "locust", "pytest", "pip", "service.model.train"])
def test_nothing_but_the_service_and_its_dependencies_is_installed(
    service: RunningService, module: str
) -> None:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)"

    found = service.engine.exec(service.container, "python3", "-c", probe, module)

    assert found.returncode == 1, f"{module} is in the image"


def test_no_build_secret_or_pip_cache_is_left_in_the_image(service: RunningService) -> None:
    leftovers = ["/run/secrets/pip-ca", "/root/.cache/pip", "/build"]
    for path in leftovers:
        result = service.engine.exec(service.container, "test", "-e", path, user="0")
        assert result.returncode == 1, f"{path} exists in the image"
    environment = service.engine.exec(service.container, "env").stdout
    assert "PIP_CERT" not in environment


def _layer_file_names(archive: Path) -> list[str]:
    """Every path stored in every layer of a saved image (docker-archive or OCI layout)."""
    names: list[str] = []
    with tarfile.open(archive) as image:
        for member in image.getmembers():
            if not member.isfile() or member.name.endswith((".json", "repositories")):
                continue
            try:
                with tarfile.open(fileobj=image.extractfile(member), mode="r:*") as layer:
                    names += layer.getnames()
            except tarfile.ReadError:
                continue  # a config or manifest blob, not a layer
    return names


def test_no_layer_keeps_the_build_secret(
    engine: Engine, default_image: BuiltImage, tmp_path: Path
) -> None:
    # The final filesystem can hide a file a lower layer still carries: read every layer.
    archive = tmp_path / "image.tar"
    engine.run("save", "-o", str(archive), default_image.tag, timeout=600)

    names = [name.removeprefix("./") for name in _layer_file_names(archive)]
    history = engine.run("history", "--no-trunc", default_image.tag).stdout

    assert any(name.startswith("opt/venv/") for name in names), "no layer was read"
    assert not [name for name in names if name.startswith("run/secrets/")]
    assert "BEGIN CERTIFICATE" not in history
    assert "PIP_CERT=/" not in history


CLOUD_RUN_MEMORY_BYTES = 512 * 2**20  # the deploy command's --memory 512Mi


def test_memory_after_serving_fits_cloud_runs_512_mib(
    service: RunningService, report_line: Callable[[str], None]
) -> None:
    # The container sees its own memory cgroup at /sys/fs/cgroup (v2) or /sys/fs/cgroup/memory
    # (v1): the whole container's memory, Gunicorn master and workers, page cache included.
    result = service.engine.exec(
        service.container,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory.current 2>/dev/null"
        " || cat /sys/fs/cgroup/memory/memory.usage_in_bytes",
    )
    if result.returncode != 0:
        pytest.skip(f"the container cannot read its memory cgroup: {result.stderr.strip()}")
    used = int(result.stdout)
    workers = service.logs()[0].count('"message": "Booting worker with pid')
    report_line(f"memory after the HTTP tests: {used / 2**20:.0f} MiB with {workers} worker(s)")

    assert used < CLOUD_RUN_MEMORY_BYTES
