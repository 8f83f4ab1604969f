"""The calls the toolkit makes, per kind of object, with API errors turned into ApiError.

Two kinds of failure are waited out with the client library's own retry support
(google.api_core.retry.Retry), within bounds:
- transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) on every call, for at
  most TRANSIENT_LIMIT_SECONDS;
- on create and update, NOT_FOUND for a log-based metric that Cloud Monitoring does not know
  yet: a metric created moments earlier takes "up to 10 minutes" to appear
  (hashicorp/terraform-provider-google#11102), so the call is retried with backoff for at most
  MetricWait.limit_seconds (10 minutes by default), printing what it waits for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.api_core import exceptions
from google.api_core import retry as retries

from monitoring.clients import Clients
from monitoring.errors import ApiError
from monitoring.identity import LOG_METRIC_TYPE_PREFIX
from monitoring.kinds.base import ApiContext, Kind
from monitoring.resources import Desired, Existing

TIMEOUT_SECONDS = 60.0
TRANSIENT_LIMIT_SECONDS = 300.0
METRIC_WAIT_SECONDS = 600.0
T = TypeVar("T")

TRANSIENT = retries.Retry(
    predicate=retries.if_exception_type(
        exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.ResourceExhausted
    ),
    initial=1.0,
    maximum=30.0,
    multiplier=2.0,
    timeout=TRANSIENT_LIMIT_SECONDS,
)
_UNKNOWN_METRIC = re.compile(r'[Cc]annot find metric\(s\) that match type = \\?"?([^"\\ ]+)')


@dataclass(frozen=True)
class MetricWait:
    """How long create/update wait for a new log-based metric to become known."""

    limit_seconds: float = METRIC_WAIT_SECONDS
    initial_seconds: float = 2.0
    report: Callable[[str], None] = lambda line: None


def unknown_metric(error: Exception) -> str | None:
    """The metric type a NOT_FOUND is about when it is Monitoring's "not known yet" refusal."""
    if not isinstance(error, exceptions.NotFound):
        return None
    found = _UNKNOWN_METRIC.search(str(error.message))
    if found:
        return found.group(1)
    return "a new log-based metric" if LOG_METRIC_TYPE_PREFIX in str(error) else None


class ProjectApi:
    """List, create, update and delete the toolkit's kinds of objects in one project."""

    def __init__(self, clients: Clients, project: str, wait: MetricWait | None = None) -> None:
        self.clients = clients
        self.project = project
        self.parent = f"projects/{project}"
        self.wait = wait or MetricWait()

    def _waiting(self, label: str, call: Callable[[], T]) -> Callable[[], T]:
        """`call`, retried while the metric it names has not appeared yet."""
        wait = self.wait

        def on_error(error: Exception) -> None:
            wait.report(
                f"waiting    {label}: {unknown_metric(error)} is not known to Cloud Monitoring "
                f"yet (new log-based metrics take up to 10 minutes); retrying for at most "
                f"{wait.limit_seconds:g}s"
            )

        retry = retries.Retry(
            predicate=lambda error: unknown_metric(error) is not None,
            initial=wait.initial_seconds,
            maximum=60.0,
            multiplier=2.0,
            timeout=wait.limit_seconds,
            on_error=on_error,
        )
        return retry(call)

    def context(self) -> ApiContext:
        return ApiContext(self.clients, self.project, TIMEOUT_SECONDS, TRANSIENT)

    def notification_channels(self) -> dict[str, list[str]]:
        """Display name -> resource names of the project's notification channels."""
        channels: dict[str, list[str]] = {}
        found = _call(
            f"list notification channels of {self.parent}",
            lambda: list(
                self.clients.notification_channels.list_notification_channels(
                    name=self.parent, timeout=TIMEOUT_SECONDS, retry=TRANSIENT
                )
            ),
        )
        for channel in found:
            channels.setdefault(channel.display_name, []).append(channel.name)
        return channels

    def list(self, kind: Kind, parents: Sequence[str] = ()) -> list[Any]:
        """Every object of a kind (SLOs: under the given service names)."""
        where = ", ".join(parents) if kind.lists_under_parents else self.parent
        return _call(
            f"list {kind.value}s of {where}", lambda: list(kind.lister(self.context(), parents))
        )

    def create(self, desired: Desired) -> Any:
        label = f"create {desired.label}"
        call = lambda: desired.kind.creator(self.context(), desired)  # noqa: E731
        return _call(label, self._waiting(label, call))

    def update(self, existing: Existing, desired: Desired, mask: list[str]) -> Any:
        """Replace the fields in `mask` (kinds whose API has no mask: the whole object)."""
        message = type(desired.message)(desired.message)
        message.name = existing.name
        named = desired.with_message(message, desired.pending)
        label = f"update {desired.label} ({existing.name})"
        call = lambda: desired.kind.updater(self.context(), existing, named, mask)  # noqa: E731
        return _call(label, self._waiting(label, call))

    def delete(self, existing: Existing) -> None:
        label = f"delete {existing.label} ({existing.name})"
        _call(label, lambda: existing.kind.deleter(self.context(), existing))


def _call(description: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except exceptions.GoogleAPICallError as error:
        status = error.grpc_status_code.name if error.grpc_status_code else error.code
        raise ApiError(f"{description}: {status}: {error.message}") from None
    except exceptions.RetryError as error:
        cause = error.cause
        if isinstance(cause, exceptions.GoogleAPICallError):
            status = cause.grpc_status_code.name if cause.grpc_status_code else cause.code
            cause = f"{status}: {cause.message}"
        raise ApiError(f"{description}: gave up retrying: {cause}") from None
