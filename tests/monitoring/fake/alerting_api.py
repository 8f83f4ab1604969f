"""google.monitoring.v3 AlertPolicyService and NotificationChannelService.

Documented behaviour reproduced: server-assigned policy and condition names; creation and
mutation records; `enabled` defaulting to true; update masks (empty: replace); one to six
conditions, a combiner when there are several; alignment periods of at least 60 s; only
existing notification channels and SLOs (select_slo_*) may be referred to; documentation of
at most 10,240 bytes with a subject of at most 255 characters; user-label syntax.

Behaviour where the real API differs from the obvious, each with its source:
- names written back under the project number, and SLO references in filters too
  (projects/[PROJECT_ID_OR_NUMBER]/... in the API reference; the echo of filters with the
  number is not documented either way: a client that normalises works with both);
- select_slo_burn_rate looks back at most 24 hours (Google, "Alerting on your burn rate",
  lookback periods; quoted in elastic/kibana#144721);
- a condition on a logging.googleapis.com/user/ metric that Cloud Monitoring does not know yet
  (just created, not propagated) is refused with NOT_FOUND "Cannot find metric(s) that match
  type = ... could take up to 10 minutes" (hashicorp/terraform-provider-google#11102); PromQL
  conditions validate their metrics the same way unless disable_metric_validation is set
  (PrometheusQueryLanguageCondition reference).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import grpc
from google.cloud import monitoring_v3 as m

from tests.monitoring.fake.common import (
    check_user_labels,
    copy_of,
    delete_named,
    invalid,
    list_page,
    masked_update,
    not_found,
    seconds,
)
from tests.monitoring.fake.server import Abort, CloudState, Empty, rpc, service_handler

SLO_SELECTOR = re.compile(r'select_slo_\w+\(\s*"([^"]+)"')
BURN_RATE = re.compile(r'select_slo_burn_rate\(\s*"[^"]+"\s*,\s*"(\d+)s"')
MAX_BURN_RATE_LOOKBACK = 86400
LOG_METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"(logging\.googleapis\.com/user/[^"]+)"')
PROMQL_LOG_METRIC = re.compile(r"logging_googleapis_com:user_(\w+)")


class AlertingApi:
    def __init__(
        self,
        state: CloudState,
        slo_exists: Callable[[str], bool],
        log_metric_types: Callable[[], list[str]],
    ) -> None:
        self.state = state
        self.slo_exists = slo_exists
        self.log_metric_types = log_metric_types
        self.policies: dict[str, Any] = {}
        self.channels: dict[str, Any] = {}

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        policies = [
            rpc(m, "ListAlertPolicies", self.list_policies, m.ListAlertPoliciesResponse),
            rpc(m, "CreateAlertPolicy", self.create_policy, m.AlertPolicy),
            rpc(m, "UpdateAlertPolicy", self.update_policy, m.AlertPolicy),
            rpc(m, "DeleteAlertPolicy", self.delete_policy, Empty),
        ]
        channels = [
            rpc(
                m,
                "ListNotificationChannels",
                self.list_channels,
                m.ListNotificationChannelsResponse,
            ),
            rpc(m, "CreateNotificationChannel", self.create_channel, m.NotificationChannel),
        ]
        return [
            service_handler("google.monitoring.v3.AlertPolicyService", policies, self.state),
            service_handler(
                "google.monitoring.v3.NotificationChannelService", channels, self.state
            ),
        ]

    def list_policies(self, request: Any) -> Any:
        self.state.check_parent(request.name)
        response = m.ListAlertPoliciesResponse
        return list_page(
            self.state, self.policies, request.name, request, response, "alert_policies"
        )

    def create_policy(self, request: Any) -> Any:
        self.state.check_parent(request.name)
        policy = copy_of(request.alert_policy)
        policy.name = self.state.numbered(f"{request.name}/alertPolicies/{self.state.new_id()}")
        policy.creation_record.mutate_time.CopyFrom(self.state.now())
        policy.creation_record.mutated_by = "fake"
        return self._store(policy)

    def update_policy(self, request: Any) -> Any:
        current = self.policies.get(self.state.numbered(request.alert_policy.name))
        if current is None:
            raise not_found(request.alert_policy.name)
        paths = list(request.update_mask.paths)
        keep = ("name", "creation_record")
        return self._store(masked_update(current, request.alert_policy, paths, keep))

    def delete_policy(self, request: Any) -> Any:
        return delete_named(self.state, self.policies, request.name)

    def _store(self, policy: Any) -> Any:
        self._check(policy)
        for condition in policy.conditions:
            if not condition.name:
                condition.name = f"{policy.name}/conditions/{self.state.new_id()}"
        if not policy.HasField("enabled"):
            policy.enabled.value = True
        policy.mutation_record.mutate_time.CopyFrom(self.state.now())
        policy.mutation_record.mutated_by = "fake"
        self.policies[policy.name] = policy
        return copy_of(policy)

    def _check(self, policy: Any) -> None:
        if not policy.display_name:
            raise invalid("alert_policy.display_name is required")
        if not 1 <= len(policy.conditions) <= 6:
            raise invalid("a policy has from one to six conditions")
        if len(policy.conditions) > 1 and policy.combiner == 0:
            raise invalid("alert_policy.combiner is required with more than one condition")
        for index, condition in enumerate(policy.conditions):
            member = condition.WhichOneof("condition")
            if member is None:
                raise invalid(f"conditions[{index}] has no condition")
            if member in ("condition_threshold", "condition_absent"):
                self._check_trigger(getattr(condition, member), index)
            if member == "condition_prometheus_query_language":
                self._check_promql(condition.condition_prometheus_query_language, index)
        documentation = policy.documentation
        if len(documentation.content.encode()) > 10240 or len(documentation.subject) > 255:
            raise invalid("documentation: content at most 10,240 bytes, subject at most 255")
        for channel in policy.notification_channels:
            if channel not in self.channels:
                raise invalid(f"notification channel {channel!r} does not exist")
        check_user_labels(policy.user_labels)

    def _check_trigger(self, trigger: Any, index: int) -> None:
        if not trigger.filter:
            raise invalid(f"conditions[{index}]: filter is required")
        for name in SLO_SELECTOR.findall(trigger.filter):
            if not self.slo_exists(self.state.numbered(name)):
                raise invalid(f"conditions[{index}]: SLO {name} does not exist")
        trigger.filter = SLO_SELECTOR.sub(
            lambda m: m.group(0).replace(m.group(1), self.state.numbered(m.group(1))),
            trigger.filter,
        )
        for lookback in BURN_RATE.findall(trigger.filter):
            if int(lookback) > MAX_BURN_RATE_LOOKBACK:
                raise invalid(
                    f"conditions[{index}]: select_slo_burn_rate lookback {lookback}s is longer "
                    "than the 24 hours allowed"
                )
        filters = (trigger.filter, getattr(trigger, "denominator_filter", ""))
        for metric_type in {t for text in filters for t in LOG_METRIC_TYPE.findall(text)}:
            if not self.state.log_metric_visible(metric_type):
                raise _metric_not_found(metric_type)
        for aggregation in trigger.aggregations:
            if seconds(aggregation.alignment_period) < 60:
                raise invalid(f"conditions[{index}]: alignment_period must be at least 60s")

    def _check_promql(self, condition: Any, index: int) -> None:
        if not condition.query:
            raise invalid(f"conditions[{index}]: query is required")
        if condition.disable_metric_validation:
            return
        promql_names = {_promql_name(t): t for t in self.log_metric_types()}
        for name in PROMQL_LOG_METRIC.findall(condition.query):
            # Distributions are queried as histograms: NAME_bucket, NAME_count, NAME_sum.
            name = re.sub(r"_(bucket|count|sum)$", "", name)
            metric_type = promql_names.get(f"logging_googleapis_com:user_{name}")
            if metric_type is None or not self.state.log_metric_visible(metric_type):
                raise _metric_not_found(metric_type or f"logging_googleapis_com:user_{name}")

    def list_channels(self, request: Any) -> Any:
        self.state.check_parent(request.name)
        response = m.ListNotificationChannelsResponse
        field = "notification_channels"
        return list_page(self.state, self.channels, request.name, request, response, field)

    def create_channel(self, request: Any) -> Any:
        self.state.check_parent(request.name)
        channel = copy_of(request.notification_channel)
        channel.name = self.state.numbered(
            f"{request.name}/notificationChannels/{self.state.new_id()}"
        )
        self.channels[channel.name] = channel
        return copy_of(channel)


def _metric_not_found(metric_type: str) -> Abort:
    """The message Google gives (hashicorp/terraform-provider-google#11102)."""
    return Abort(
        grpc.StatusCode.NOT_FOUND,
        f'Cannot find metric(s) that match type = "{metric_type}". If a metric was created '
        "recently, it could take up to 10 minutes to become available. Please try again soon.",
    )


def _promql_name(metric_type: str) -> str:
    """Mapping Cloud Monitoring metrics to PromQL: the first / becomes :, every other special
    character _ (Cloud Monitoring docs, "Mapping Cloud Monitoring metrics to PromQL")."""
    domain, _, path = metric_type.partition("/")
    return re.sub(r"[^A-Za-z0-9_]", "_", domain) + ":" + re.sub(r"[^A-Za-z0-9_]", "_", path)
