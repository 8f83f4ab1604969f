"""Fixtures for the container tests: build the real Dockerfile, run the image, clean up.

Run by `nox -s container`. Environment:
  CONTAINER_ENGINE       docker | podman (default: docker if its daemon answers, else podman)
  CONTAINER_BASE_IMAGE   the BASE_IMAGE build argument (default: the local base image that
                         scripts/setup-podman.sh builds, when podman has it; else the Dockerfile's)
  CONTAINER_PIP_CA       CA bundle handed to pip as the `pip-ca` build secret (default: the file
                         named by PIP_CERT, SSL_CERT_FILE or REQUESTS_CA_BUNDLE, if any)
  CONTAINER_KEEP_IMAGES  1 keeps the built images (default: removed at the end, like containers)
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from container_engine import (
    LOCAL_BASE_IMAGE,
    BuildRequest,
    BuiltImage,
    Engine,
    RunningService,
    detect_engine,
)
from container_project import (
    REPO,
    REPORTS,
    dockerfile_default_base_image,
    git_revision,
    project_version,
)

CONTAINER_PORT = 8080  # the image's default PORT
DEFAULT_EXTRAS = "serve,vertex"
READY_TIMEOUT_SECONDS = 90
_SUMMARY = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SUMMARY] = []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(_SUMMARY, [])
    if lines:
        terminalreporter.section("container image")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def report_line(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Add a line to the 'container image' section printed at the end of the run."""
    return pytestconfig.stash[_SUMMARY].append


@pytest.fixture(scope="session")
def engine() -> Engine:
    program = os.environ.get("CONTAINER_ENGINE") or detect_engine()
    if program is None:
        pytest.skip(
            "no container engine: install podman (scripts/install-system-deps.sh) or Docker"
        )
    return Engine(program)


@pytest.fixture(scope="session")
def base_image(engine: Engine) -> str:
    """The base image the builds use: configured, the local one from setup, or the default."""
    configured = os.environ.get("CONTAINER_BASE_IMAGE")
    if configured:
        return configured
    if engine.program == "podman" and engine.image_exists(LOCAL_BASE_IMAGE):
        return LOCAL_BASE_IMAGE
    return dockerfile_default_base_image()


def _pip_ca_bundle() -> Path | None:
    for variable in ("CONTAINER_PIP_CA", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(variable)
        if value and Path(value).is_file():
            return Path(value)
    return None


@pytest.fixture(scope="session")
def build_image(
    engine: Engine, base_image: str, report_line: Callable[[str], None]
) -> Iterator[Callable[[str], BuiltImage]]:
    """Build the Dockerfile with the given extras (once per extras); remove the images after."""
    token = uuid.uuid4().hex[:8]
    built: dict[str, BuiltImage] = {}
    ca_bundle = _pip_ca_bundle()

    def build(extras: str) -> BuiltImage:
        if extras not in built:
            tag = f"localhost/prediction-service:test-{token}-{extras.replace(',', '-')}"
            args = {
                "BASE_IMAGE": base_image,
                "EXTRAS": extras,
                "VERSION": project_version(),
                "GIT_REVISION": git_revision(),
            }
            request = BuildRequest(
                tag=tag, build_args=args, secrets={"pip-ca": ca_bundle} if ca_bundle else {}
            )
            log = REPORTS / f"build-{extras.replace(',', '-')}.log"
            seconds = engine.build(REPO, request, log)
            built[extras] = BuiltImage(tag, args, seconds)
            report_line(f"built {tag} (EXTRAS={extras}, base {base_image}) in {seconds:.0f} s")
        return built[extras]

    yield build
    if os.environ.get("CONTAINER_KEEP_IMAGES") != "1":
        for image in built.values():
            engine.remove_image(image.tag)


@pytest.fixture(scope="session")
def default_image(build_image: Callable[[str], BuiltImage]) -> BuiltImage:
    return build_image(DEFAULT_EXTRAS)


def wait_until_ready(engine: Engine, container: str, base_url: str) -> None:
    """Poll GET /ready until 200; fail with the container's logs if it stops or never is."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if not engine.is_running(container):
            stdout, stderr = engine.logs(container)
            pytest.fail(f"the container exited before it was ready:\n{stdout}\n{stderr}")
        try:
            answer = requests.get(f"{base_url}/ready", timeout=2)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text}"
        except requests.ConnectionError as error:
            last = str(error)
        time.sleep(0.25)
    stdout, stderr = engine.logs(container)
    pytest.fail(f"not ready after {READY_TIMEOUT_SECONDS} s ({last}):\n{stdout}\n{stderr}")


@pytest.fixture(scope="session")
def start_container(engine: Engine) -> Iterator[Callable[..., RunningService]]:
    """Start an image, publish its port on loopback, wait for /ready; remove all at the end."""
    started: list[str] = []

    def start(
        image: str,
        env: dict[str, str] | None = None,
        port: int = CONTAINER_PORT,
        run_options: tuple[str, ...] = (),
    ) -> RunningService:
        container = engine.start(image, port, env or {}, run_options)
        started.append(container)
        base_url = f"http://127.0.0.1:{engine.host_port(container, port)}"
        wait_until_ready(engine, container, base_url)
        return RunningService(engine, container, base_url)

    yield start
    for container in started:
        engine.remove_container(container)


@pytest.fixture(scope="session")
def service(
    default_image: BuiltImage, start_container: Callable[..., RunningService]
) -> RunningService:
    """The default image, running with its defaults plus a project id (for trace fields)."""
    return start_container(default_image.tag, {"PROJECT_ID": "container-test"})
