"""Cloud Run Admin API v2 calls of a release: read the Service, change it in one UpdateService
(or CreateService) call with its etag, wait for the long-running operation, and check that
what serves is what was asked for.

The checks follow the `reconciling` contract of google/cloud/run/v2/service.proto: once
`reconciling` is false, either the terminal condition succeeded and `traffic_statuses` equals
`traffic`, or it failed and `traffic_statuses` keeps the last serving state.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from google.api_core import exceptions
from google.api_core.future.polling import DEFAULT_POLLING
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from release import traffic as traffic_lists
from release.clients import Clients
from release.environment import Environment
from release.traffic import Target

OPERATION_TIMEOUT_S = 900.0  # a revision's start-up (image pull, probes) within 15 minutes
SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED


class Refused(Exception):
    """The change was not made: someone changed the Service meanwhile (etag), or no access."""


class OperationFailed(Exception):
    """The change was made but did not become the serving state (the message says why)."""


class CloudRun:
    def __init__(
        self,
        clients: Clients,
        env: Environment,
        poll_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = clients.services
        self.env = env
        self.poll_s = poll_s
        self.sleep = sleep

    def get(self) -> run_v2.Service | None:
        try:
            return self.client.get_service(name=self.env.service_name)
        except exceptions.NotFound:
            return None
        except exceptions.GoogleAPICallError as error:
            raise Refused(f"GetService {self.env.service_name}: {error.message}") from None

    def create(self, service: run_v2.Service, targets: list[Target]) -> run_v2.Service:
        service.traffic = [t.message() for t in targets]
        request = run_v2.CreateServiceRequest(
            parent=self.env.parent, service=service, service_id=self.env.service
        )
        return self._wait(
            "CreateService", lambda: self.client.create_service(request=request), targets
        )

    def update(
        self, service: run_v2.Service, targets: list[Target], fields: tuple[str, ...] = ()
    ) -> run_v2.Service:
        """Send `service` (read with get(), so it carries its etag) with `targets` as traffic.

        A stale etag is refused by the API with ABORTED (AIP-154, "Resource freshness
        validation"; google.aip.dev PR #705), FAILED_PRECONDITION in older services: both
        mean that another change came first, and nothing of ours was applied.
        """
        service.traffic = [t.message() for t in targets]
        request = run_v2.UpdateServiceRequest(service=service)
        if fields:
            # Only these fields: a template read back and sent again has been refused as "a
            # revision with different configuration" (googleapis/google-cloud-python#11870).
            request.update_mask = field_mask_pb2.FieldMask(paths=list(fields))
        return self._wait(
            "UpdateService", lambda: self.client.update_service(request=request), targets
        )

    def _wait(
        self, method: str, call: Callable[[], object], targets: list[Target]
    ) -> run_v2.Service:
        try:
            operation = call()
        except exceptions.AlreadyExists as error:  # a revision name taken by another config
            raise Refused(f"{method} refused: {error.message}") from None
        except (exceptions.Aborted, exceptions.FailedPrecondition, exceptions.Conflict) as error:
            raise Refused(
                f"{method} refused: the service changed since it was read ({error.message}); "
                "nothing was changed, run the command again"
            ) from None
        except exceptions.GoogleAPICallError as error:
            raise Refused(f"{method} refused: {error.message}") from None
        # api-core's default polling (retrying _OperationNotComplete), at our interval.
        polling = DEFAULT_POLLING.with_delay(
            initial=self.poll_s, maximum=max(self.poll_s, 10.0), multiplier=1.5
        ).with_timeout(OPERATION_TIMEOUT_S)
        try:
            operation.result(timeout=OPERATION_TIMEOUT_S, polling=polling)
        except exceptions.GoogleAPICallError as error:
            raise OperationFailed(f"{method}: the operation failed: {error.message}") from None
        except TimeoutError:
            raise OperationFailed(f"{method}: no result in {OPERATION_TIMEOUT_S:.0f} s") from None
        return self.verify(targets)

    def verify(self, targets: list[Target]) -> run_v2.Service:
        """Re-read the Service until it has reconciled; it must serve exactly `targets`."""
        deadline = time.monotonic() + OPERATION_TIMEOUT_S
        while True:
            service = self.get()
            if service is None:
                raise OperationFailed(f"{self.env.service_name} does not exist after the change")
            if not service.reconciling:
                break
            if time.monotonic() > deadline:
                raise OperationFailed("the service is still reconciling after the operation")
            self.sleep(self.poll_s)
        condition = service.terminal_condition
        if condition.state != SUCCEEDED:
            reason = condition.message or condition.state.name
            raise OperationFailed(f"the service did not become ready: {reason}")
        serving = traffic_lists.serving(service)
        if not traffic_lists.same(serving, targets):
            asked = _show(targets)
            raise OperationFailed(f"traffic_statuses {_show(serving)} differ from {asked}")
        return service


def tag_uri(service: run_v2.Service, tag: str) -> str | None:
    for status in service.traffic_statuses:
        if status.tag == tag and status.uri:
            return status.uri
    return None


def _show(targets: list[Target]) -> str:
    return ", ".join(
        f"{t.revision}={t.percent}%" + (f" ({t.tag})" if t.tag else "") for t in sorted(targets)
    )
