"""google.cloud.run.v2.Services (Get, Create, Update) and google.longrunning.Operations.

Documented behaviour reproduced, with sources:
- Create and Update return a long-running operation, polled with Operations.GetOperation; its
  response and metadata are the Service (run_v2 ServicesClient.update_service).
- While an operation runs the Service is `reconciling`; `traffic_statuses`,
  `latest_ready_revision` and `observed_generation` keep their old values until it is over. On
  success `traffic_statuses` equals `traffic`; on failure they keep the last serving state and
  `terminal_condition` says why (Service.reconciling, google/cloud/run/v2/service.proto).
- An etag that is not the current one is refused with ABORTED (AIP-154; google.aip.dev#705).
- An explicit revision name that already exists with a different configuration is refused with
  ALREADY_EXISTS, "Revision named ... with different configuration already exists"
  (googleapis/google-cloud-python#14259); the same template sent again makes no new revision.
- Annotations in the system namespaces are refused, and all of them together may hold at most
  256 KiB (run_v2 Service.annotations: "follows Kubernetes annotations' ... limits").
- An update mask limits the update to the fields it names (UpdateServiceRequest.update_mask).
- Traffic must add up to 100%, name existing revisions, and use each tag once.
- Tag URLs are `https://TAG---SERVICE-HASH-REGION.a.run.app` (Cloud Run "Rollbacks, gradual
  rollouts, and traffic migration": tags); tests may map a tag to a local URL instead.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, field_mask_pb2
from google.rpc import code_pb2, status_pb2

from tests.monitoring.fake.common import copy_of, invalid
from tests.monitoring.fake.server import Abort, CloudState
from tests.release.fake.wire import handler

SERVICE = run_v2.Service.pb()
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION.value
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST.value
SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED.value
FAILED = run_v2.Condition.State.CONDITION_FAILED.value


@dataclass
class Operation:
    name: str
    service: str
    done_at: float
    new_revision: str | None = None
    done: bool = False
    error: str = ""


@dataclass
class CloudRunApi:
    state: CloudState
    region: str
    reconcile_s: float = 0.05
    failing_images: set[str] = field(default_factory=set)
    uri_for_tag: Callable[[str], str] | None = None
    services: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, bytes] = field(default_factory=dict)  # revision -> its config
    operations: dict[str, Operation] = field(default_factory=dict)
    history: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    failed_revisions: set[str] = field(default_factory=set)

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        services = {
            "GetService": (self.get, run_v2.GetServiceRequest.pb()),
            "CreateService": (self.create, run_v2.CreateServiceRequest.pb()),
            "UpdateService": (self.update, run_v2.UpdateServiceRequest.pb()),
        }
        operations = {"GetOperation": (self.get_operation, operations_pb2.GetOperationRequest)}
        return [
            handler("google.cloud.run.v2.Services", services, self.state),
            handler("google.longrunning.Operations", operations, self.state),
        ]

    # --- Services ---------------------------------------------------------------------------

    def get(self, request: Any) -> Any:
        self.reconcile_due()
        return copy_of(self._existing(request.name))

    def create(self, request: Any) -> Any:
        self.reconcile_due()
        self._check_parent(request.parent)
        name = f"{request.parent}/services/{request.service_id}"
        if name in self.services:
            raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"Resource '{name}' already exists.")
        service = copy_of(request.service)
        service.name, service.uid, service.generation = name, secrets.token_hex(8), 0
        service.uri = f"https://{request.service_id}-{secrets.token_hex(5)}-ew.a.run.app"
        return self._accept(service)

    def update(self, request: Any) -> Any:
        self.reconcile_due()
        current = self.services.get(request.service.name)
        if current is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"Resource '{request.service.name}' not found.")
        if request.service.etag and request.service.etag != current.etag:
            raise Abort(
                grpc.StatusCode.ABORTED,
                f"etag {request.service.etag!r} is stale: the service was changed since",
            )
        paths = list(request.update_mask.paths)
        if paths:  # only the masked fields come from the request
            mask = field_mask_pb2.FieldMask(paths=paths)
            if not mask.IsValidForDescriptor(SERVICE.DESCRIPTOR):
                raise invalid(f"update_mask {paths} names a field that Service does not have")
            service = copy_of(current)
            mask.MergeMessage(
                request.service, service, replace_message_field=True, replace_repeated_field=True
            )
            service.etag = request.service.etag
        else:
            service = copy_of(request.service)
        _keep_output_only(service, current)
        return self._accept(service)

    def _accept(self, service: Any) -> Any:
        revision = (
            service.template.revision or f"{service.name.rsplit('/', 1)[1]}-{secrets.token_hex(3)}"
        )
        config = service.template.SerializeToString(deterministic=True)
        created = False
        if revision in self.templates:
            if self.templates[revision] != config:
                raise Abort(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"Revision named '{revision}' with different configuration already exists.",
                )
        else:
            self.templates[revision] = config
            created = True
        self._check_traffic(service, revision)
        _check_annotations(service.annotations)
        if created:
            service.latest_created_revision = revision
        service.generation += 1
        service.etag = f'"{secrets.token_hex(8)}"'
        service.reconciling = True
        self.services[service.name] = service
        operation = Operation(
            f"{service.name.rsplit('/services/', 1)[0]}/operations/{secrets.token_hex(6)}",
            service.name,
            time.monotonic() + self.reconcile_s,
            revision if created else None,
        )
        self.operations[operation.name] = operation
        return self._operation_pb(operation)

    def _check_traffic(self, service: Any, new_revision: str) -> None:
        total, tags = 0, set()
        for target in service.traffic:
            if not 0 <= target.percent <= 100:
                raise invalid(f"traffic percent {target.percent} is not within 0..100")
            if target.type_ == REVISION and target.revision not in self.templates:
                raise invalid(f"Revision '{target.revision}' does not exist")
            if target.tag:
                if target.tag in tags:
                    raise invalid(f"tag '{target.tag}' is used more than once")
                tags.add(target.tag)
            total += target.percent
        if service.traffic and total != 100:
            raise invalid(f"traffic percentages add up to {total}, not 100")

    # --- reconciliation ---------------------------------------------------------------------

    def reconcile_due(self) -> None:
        now = time.monotonic()
        for operation in self.operations.values():
            if not operation.done and now >= operation.done_at:
                self._reconcile(operation)

    def _reconcile(self, operation: Operation) -> None:
        service = self.services[operation.service]
        operation.done = True
        service.reconciling = False
        condition = service.terminal_condition
        condition.type_ = "Ready"
        condition.last_transition_time.GetCurrentTime()
        images = [c.image for c in service.template.containers]
        if operation.new_revision and any(image in self.failing_images for image in images):
            self.failed_revisions.add(operation.new_revision)
        failed = [t.revision for t in service.traffic if t.revision in self.failed_revisions]
        if failed:
            operation.error = (
                f"Revision '{failed[0]}' is not ready and cannot serve traffic. The "
                "user-provided container failed to start and listen on the port."
            )
            condition.state, condition.message = FAILED, operation.error
            return  # traffic_statuses and latest_ready_revision keep the last serving state
        service.latest_ready_revision = service.latest_created_revision
        service.observed_generation = service.generation
        condition.state, condition.message = SUCCEEDED, ""
        del service.traffic_statuses[:]
        shares: dict[str, int] = {}
        for target in service.traffic:
            status = service.traffic_statuses.add()
            status.type_, status.percent, status.tag = REVISION, target.percent, target.tag
            status.revision = (
                target.revision if target.type_ == REVISION else service.latest_ready_revision
            )
            if target.tag:
                status.uri = self._tag_uri(service, target.tag)
            shares[status.revision] = shares.get(status.revision, 0) + target.percent
        self.history.append((time.time(), shares))

    def _tag_uri(self, service: Any, tag: str) -> str:
        if self.uri_for_tag is not None:
            return self.uri_for_tag(tag)
        return service.uri.replace("https://", f"https://{tag}---", 1)

    def shares_at(self, moment: float) -> dict[str, int]:
        """The serving percent of every revision at `moment` (for the scripted metrics)."""
        current: dict[str, int] = {}
        for changed_at, shares in self.history:
            if changed_at > moment:
                break
            current = shares
        return current

    # --- Operations -------------------------------------------------------------------------

    def get_operation(self, request: Any) -> Any:
        self.reconcile_due()
        operation = self.operations.get(request.name)
        if operation is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"operation {request.name} not found")
        return self._operation_pb(operation)

    def _operation_pb(self, operation: Operation) -> Any:
        message = operations_pb2.Operation(name=operation.name, done=operation.done)
        snapshot = any_pb2.Any()
        snapshot.Pack(self.services[operation.service])
        message.metadata.CopyFrom(snapshot)
        if operation.done and operation.error:
            message.error.CopyFrom(
                status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=operation.error)
            )
        elif operation.done:
            message.response.CopyFrom(snapshot)
        return message

    # --- helpers for tests ------------------------------------------------------------------

    def seed(self, name: str, revision: str, image: str) -> None:
        """A service deployed before the toolkit: one revision, traffic LATEST 100%."""
        service = SERVICE(name=name, uid="seeded", generation=1, observed_generation=1)
        service.uri = f"https://{name.rsplit('/', 1)[1]}-abcde12345-ew.a.run.app"
        service.template.revision = revision
        service.template.containers.add().image = image
        self.templates[revision] = service.template.SerializeToString(deterministic=True)
        service.traffic.add(type_=LATEST, percent=100)
        service.traffic_statuses.add(type_=LATEST, revision=revision, percent=100)
        service.latest_created_revision = service.latest_ready_revision = revision
        service.terminal_condition.type_, service.terminal_condition.state = "Ready", SUCCEEDED
        service.etag = '"seeded"'
        self.services[name] = service
        self.history.append((time.time() - 3600, {revision: 100}))

    def _existing(self, name: str) -> Any:
        service = self.services.get(name)
        if service is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"Resource '{name}' not found.")
        return service

    def _check_parent(self, parent: str) -> None:
        self.state.check_parent(parent.rsplit("/locations/", 1)[0])
        if not parent.endswith(f"/locations/{self.region}"):
            raise invalid(f"location of {parent!r} is not {self.region}")


OUTPUT_ONLY = (
    "uid",
    "generation",
    "create_time",
    "update_time",
    "uri",
    "urls",
    "observed_generation",
    "terminal_condition",
    "conditions",
    "latest_ready_revision",
    "latest_created_revision",
    "traffic_statuses",
    "reconciling",
    "etag",
)


def _keep_output_only(service: Any, current: Any) -> None:
    """What a client sends in output-only fields is ignored: the server's values stay."""
    for name in OUTPUT_ONLY:
        field = SERVICE.DESCRIPTOR.fields_by_name[name]
        service.ClearField(name)
        if field.is_repeated:
            getattr(service, name).extend(getattr(current, name))
        elif field.message_type is not None:
            if current.HasField(name):
                getattr(service, name).CopyFrom(getattr(current, name))
        else:
            setattr(service, name, getattr(current, name))


SYSTEM_PREFIXES = (
    "run.googleapis.com",
    "cloud.googleapis.com",
    "serving.knative.dev",
    "autoscaling.knative.dev",
)
MAX_ANNOTATIONS_BYTES = 256 * 1024


def _check_annotations(annotations: Any) -> None:
    """v2 refuses the system namespaces, and follows Kubernetes' limits: 256 KiB in total
    (run_v2 Service.annotations)."""
    for key in annotations:
        if key.split("/", 1)[0] in SYSTEM_PREFIXES:
            raise invalid(f"annotation {key!r} uses a reserved namespace")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        raise invalid(f"annotations total {size} bytes, more than {MAX_ANNOTATIONS_BYTES}")
