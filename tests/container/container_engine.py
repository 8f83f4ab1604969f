"""The container engine's command line (docker or podman), as the container tests drive it.

Both engines take the same commands for what the tests do (build, run, port, logs, exec, stop,
inspect, rm, rmi); the differences are handled here: podman keeps a HEALTHCHECK only when it
builds with `--format docker`, and reports it outside `Config` in `image inspect`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_BASE_IMAGE = "localhost/python-base:bookworm"  # what scripts/setup-podman.sh builds


class EngineError(RuntimeError):
    """An engine command failed; the message holds the command and its output."""


def docker_answers() -> bool:
    """True when a Docker daemon answers (the CLI alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def detect_engine() -> str | None:
    """docker if its daemon answers, else podman if installed, else None."""
    if docker_answers():
        return "docker"
    return "podman" if shutil.which("podman") else None


@dataclass(frozen=True)
class BuildRequest:
    """What to build: the tag, the build arguments and the build secrets (id -> file)."""

    tag: str
    build_args: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Engine:
    program: str  # "docker" or "podman"

    def run(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess:
        command = [self.program, *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise EngineError(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def build(self, context: Path, request: BuildRequest, log_path: Path) -> float:
        """Build the Dockerfile in `context`; the full output goes to `log_path`. Seconds taken."""
        args = ["build", "--tag", request.tag, "--file", str(context / "Dockerfile")]
        if self.program == "podman":
            args += ["--format", "docker"]  # OCI image configs have no HEALTHCHECK
        for name, value in request.build_args.items():
            args += ["--build-arg", f"{name}={value}"]
        for secret_id, path in request.secrets.items():
            args += ["--secret", f"id={secret_id},src={path}"]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with log_path.open("w", encoding="utf-8") as log:
            result = subprocess.run(
                [self.program, *args, str(context)],
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=900,
                check=False,
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(encoding="utf-8").splitlines()[-40:])
            raise EngineError(f"{self.program} build failed (full log: {log_path}):\n{tail}")
        return time.monotonic() - started

    def start(
        self,
        image: str,
        container_port: int,
        env: dict[str, str],
        run_options: tuple[str, ...] = (),
    ) -> str:
        """Run `image` detached, publishing `container_port` on a free loopback port; its id.
        `run_options` go to `run` as they are (e.g. `--memory 512m`)."""
        args = ["run", "--detach", "--publish", f"127.0.0.1::{container_port}", *run_options]
        for name, value in env.items():
            args += ["--env", f"{name}={value}"]
        return self.run(*args, image).stdout.strip()

    def host_port(self, container: str, container_port: int) -> int:
        """The loopback port the engine published `container_port` on."""
        mapping = self.run("port", container, f"{container_port}/tcp").stdout.split()[0]
        return int(mapping.rsplit(":", 1)[1])

    def logs(self, container: str) -> tuple[str, str]:
        """The container's standard output and standard error, separately."""
        result = self.run("logs", container)
        return result.stdout, result.stderr

    def exec(
        self, container: str, *command: str, user: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run `command` in the container (as the image's user unless `user` is given)."""
        as_user = ["--user", user] if user else []
        return self.run("exec", *as_user, container, *command, check=False)

    def stop(self, container: str, grace_seconds: int) -> None:
        """SIGTERM, then SIGKILL after `grace_seconds`; returns once the container has exited."""
        self.run("stop", "--time", str(grace_seconds), container, timeout=grace_seconds + 60)

    def inspect_container(self, container: str) -> dict[str, Any]:
        return json.loads(self.run("container", "inspect", container).stdout)[0]

    def is_running(self, container: str) -> bool:
        return bool(self.inspect_container(container)["State"]["Running"])

    def exit_code(self, container: str) -> int:
        return int(self.inspect_container(container)["State"]["ExitCode"])

    def remove_container(self, container: str) -> None:
        self.run("rm", "--force", container, check=False)

    def inspect_image(self, image: str) -> dict[str, Any]:
        return json.loads(self.run("image", "inspect", image).stdout)[0]

    def image_exists(self, image: str) -> bool:
        return self.run("image", "inspect", image, check=False).returncode == 0

    def image_size(self, image: str) -> int:
        """Uncompressed size in bytes, as `images` reports it."""
        return int(self.inspect_image(image)["Size"])

    def image_labels(self, image: str) -> dict[str, str]:
        details = self.inspect_image(image)
        return (details.get("Config") or {}).get("Labels") or details.get("Labels") or {}

    def image_healthcheck(self, image: str) -> list[str] | None:
        """The HEALTHCHECK's test (["CMD", ...] or ["CMD-SHELL", ...]), None without one."""
        details = self.inspect_image(image)
        healthcheck = (details.get("Config") or {}).get("Healthcheck") or details.get("Healthcheck")
        return healthcheck.get("Test") if healthcheck else None

    def remove_image(self, image: str) -> None:
        self.run("rmi", "--force", image, check=False, timeout=300)


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    build_args: dict[str, str]  # EXTRAS, BASE_IMAGE, VERSION, GIT_REVISION
    build_seconds: float

    @property
    def extras(self) -> str:
        return self.build_args["EXTRAS"]

    @property
    def base_image(self) -> str:
        return self.build_args["BASE_IMAGE"]


@dataclass(frozen=True)
class RunningService:
    engine: Engine
    container: str
    base_url: str

    def logs(self) -> tuple[str, str]:
        return self.engine.logs(self.container)
