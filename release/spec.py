"""The Cloud Run Service of an environment, as the run_v2 message `deploy` sends (`render`)."""

from __future__ import annotations

import re

from google.cloud import run_v2
from google.protobuf import duration_pb2

from release.environment import Environment

MANAGED_BY = {"managed-by": "fashion-serve-release"}
# A short SHA as Cloud Build's $SHORT_SHA (7) or any longer prefix of a commit id.
_SHA = re.compile(r"^[0-9a-f]{7,40}$")
# REGISTRY-HOST/PATH[:TAG][@sha256:DIGEST]; Artifact Registry is REGION-docker.pkg.dev/P/R/I.
_IMAGE = re.compile(
    r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
MAX_NAME = 63  # revision names and tags are DNS labels


class SpecError(ValueError):
    """A wrong --image or --sha: the message names the flag and the problem."""


def check_sha(sha: str) -> str:
    if not _SHA.match(sha or ""):
        raise SpecError(f"--sha must be 7 to 40 lower-case hex digits, got {sha!r}")
    return sha


def check_image(image: str) -> str:
    if not _IMAGE.match(image or ""):
        raise SpecError(
            f"--image must be an image URI like REGION-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG, "
            f"got {image!r}"
        )
    return image


def revision_name(env: Environment, sha: str) -> str:
    """The explicit revision name `<service>-<short sha>` (a DNS label of at most 63)."""
    name = f"{env.service}-{check_sha(sha)}"
    if len(name) > MAX_NAME:
        raise SpecError(f"revision name {name!r} is longer than {MAX_NAME} characters")
    return name


def canary_tag(sha: str) -> str:
    return f"c-{check_sha(sha)}"


def build_template(env: Environment, image: str, sha: str) -> run_v2.RevisionTemplate:
    """The new revision: resources, concurrency, timeout, scaling, env, identity, probes."""
    c, p = env.container, env.probes

    def probe(path: str) -> run_v2.Probe:
        return run_v2.Probe(
            initial_delay_seconds=p.initial_delay_s,
            timeout_seconds=p.timeout_s,
            period_seconds=p.period_s,
            failure_threshold=p.failure_threshold,
            http_get=run_v2.HTTPGetAction(path=path),
        )

    container = run_v2.Container(
        image=check_image(image),
        resources=run_v2.ResourceRequirements(limits={"memory": c.memory, "cpu": c.cpu}),
        env=[run_v2.EnvVar(name=k, value=v) for k, v in sorted(c.env.items())],
        startup_probe=probe(p.startup_path),
        liveness_probe=probe(p.liveness_path),
    )
    return run_v2.RevisionTemplate(
        revision=revision_name(env, sha),
        labels=dict(MANAGED_BY),
        service_account=env.runtime_service_account,
        containers=[container],
        scaling=run_v2.RevisionScaling(
            min_instance_count=c.min_instances, max_instance_count=c.max_instances
        ),
        timeout=duration_pb2.Duration(seconds=c.timeout_s),
        max_instance_request_concurrency=c.concurrency,
    )


def build_service(env: Environment, image: str, sha: str) -> run_v2.Service:
    """The whole Service for a first deploy (`render` prints it; traffic is set by deploy).

    Authenticated callers only: the invoker IAM check stays on (no allUsers binding is ever
    made by the release), and the gate's audience is a custom audience of the service.
    """
    return run_v2.Service(
        labels=dict(MANAGED_BY),
        ingress=run_v2.IngressTraffic.INGRESS_TRAFFIC_ALL,
        invoker_iam_disabled=False,
        custom_audiences=[env.audience],
        template=build_template(env, image, sha),
    )
