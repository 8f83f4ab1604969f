"""Sessions for developing, testing, load-testing and operating the toolkit.

`nox` alone runs the test suite (the default sessions below); `nox -l` lists every session.
Every session installs what it needs with the pinned versions in constraints.txt.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

nox.options.sessions = ["lint", "unit", "fuzz", "container", "loadtest"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints.txt")
GUNICORN_CONF = "service/gunicorn.conf.py"


def install(session: nox.Session, *extras: str) -> None:
    """Install the project with the given extras, pinned by constraints.txt."""
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install(*CONSTRAINTS, "-e", spec)


# The CI files against the schemas bundled with check-jsonschema (offline: no download).
CI_SCHEMAS = {
    "cloudbuild.yaml": "vendor.cloudbuild",
    ".github/workflows/release.yml": "vendor.github-workflows",
}


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff: format check and lint (including the security rules); the CI files' schemas."""
    session.install(*CONSTRAINTS, "ruff", "check-jsonschema")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    for path, schema in CI_SCHEMAS.items():
        session.run("check-jsonschema", "--builtin-schema", schema, path)


@nox.session(python=PYTHON)
def unit(session: nox.Session) -> None:
    """Unit and integration tests on the source tree (pytest; args after -- go to pytest)."""
    install(session, "serve", "vertex", "monitoring", "loadtest", "release", "train", "dev")
    session.run(
        "pytest",
        "--ignore=tests/container",
        "--ignore=tests/fuzz",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Run the service under Gunicorn on $PORT (default 8080), embedded model unless configured."""
    install(session, "serve", "vertex")
    session.run("gunicorn", "-c", GUNICORN_CONF, "service:create_app()", external=False)


@nox.session(python=PYTHON)
def train(session: nox.Session) -> None:
    """Train the CNN with PyTorch on the CPU and export NumPy weights (deterministic)."""
    install(session, "train", "serve")
    session.run("python", "-m", "service.model.train", *session.posargs)


@nox.session(python=PYTHON)
def evaluate(session: nox.Session) -> None:
    """Evaluate the committed weights on the official test set and write the model card."""
    install(session, "serve")
    session.run("python", "-m", "service.model.evaluate", *session.posargs)


@nox.session(python=PYTHON)
def container(session: nox.Session) -> None:
    """Build the image (docker if its daemon answers, else podman), test the running container."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        engine = "docker"
    elif shutil.which("podman"):
        engine = "podman"
        if os.geteuid() == 0:
            # Rootful podman in a sandbox: runc, cgroupfs, accepted ulimits, a local base image.
            session.run("scripts/setup-podman.sh", external=True)
    else:
        session.error("No container engine: install Docker or podman (see scripts/).")
    install(session, "serve", "dev")
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/container",
        "--timeout=900",  # the first test waits for the image builds
        *session.posargs,
        env={"CONTAINER_ENGINE": engine},
    )


# CI's two-tier run (issue 11): BACKEND=vertex, one worker, in front of the local Vertex AI
# server answering after 100 ms, at 150 requests/s for 60 s.
TWO_TIER_CI = ("--backend", "vertex-fake", "--upstream-latency-ms", "100", "--rate", "150")


@nox.session(python=PYTHON)
def loadtest(session: nox.Session) -> None:
    """Locust load test gated on the SLOs in slo/ (local embedded service unless --host;
    `-- --backend vertex-fake` for the two-tier path). Without arguments (CI) it runs the
    embedded service, then the two-tier path at 150 requests/s."""
    install(session, "serve", "vertex", "loadtest")
    if session.posargs:
        session.run("python", "-m", "loadtest", *session.posargs)
        return
    session.run("python", "-m", "loadtest")
    session.run("python", "-m", "loadtest", *TWO_TIER_CI)


@nox.session(python=PYTHON)
def monitoring(session: nox.Session) -> None:
    """Dashboards, alerts, SLOs as code: -- validate | render | plan | apply [--prune]."""
    install(session, "monitoring")
    session.run("python", "-m", "monitoring", *(session.posargs or ["validate"]))


@nox.session(python=PYTHON)
def release(session: nox.Session) -> None:
    """Release a revision to Cloud Run: -- render | validate | deploy | gate | canary | promote |
    rollback | status --env ENV (see README "Release")."""
    install(session, "loadtest", "release")
    session.run("python", "-m", "release", *(session.posargs or ["--help"]))


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Schemathesis against the OpenAPI document, hypothesis fuzzing of image decoding, and
    raw-socket fuzzing of HTTP framing (request lines, headers, chunked bodies)."""
    install(session, "serve", "vertex", "dev")
    session.install(*CONSTRAINTS, "schemathesis")
    session.run("pytest", "tests/fuzz", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: inference latency, HTTP throughput vs a minimal route, cold start, memory
    (writes benchmarks/results/latest.json; `-- --help` lists the options)."""
    # bench: FastAPI and uvicorn for the --peers comparison (benchmarks/peers/), not served.
    # vertex: the two-tier figures start the Vertex AI fake (fakes/) and BACKEND=vertex.
    install(session, "serve", "vertex", "loadtest", "dev", "bench")
    if "--profile" in session.posargs:
        session.install(*CONSTRAINTS, "py-spy")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Re-resolve every extra and rewrite constraints.txt."""
    extras = "serve,vertex,monitoring,loadtest,release,dev,bench"
    session.install("-e", f".[{extras}]", "schemathesis", "check-jsonschema", "py-spy")
    frozen = session.run("pip", "freeze", "--exclude-editable", silent=True)
    lines = [line for line in frozen.splitlines() if line and not line.startswith("-e")]
    header = "# Pinned versions for every extra. nox and the Dockerfile both use it.\n"
    with open("constraints.txt", "w", encoding="utf-8") as out:
        out.write(header + "\n".join([*lines, "torch==2.13.0"]) + "\n")
