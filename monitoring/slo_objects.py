"""slo/'s objectives as Cloud Monitoring objects: a custom service, request-based SLOs and
multi-window, multi-burn-rate alert policies (Google SRE workbook, "Alerting on SLOs").

Nothing numeric is written here: goals, the window, latency thresholds, alert windows and
budget shares come from slo/ (slo.load_slos, slo.load_alert_windows); burn-rate thresholds from
AlertWindow.burn_rate_threshold. Routing, severities and the runbook text come from
slo_alerts.yaml.

The SLIs count client traffic only. run.googleapis.com/request_count cannot tell the uptime
checker's probes from clients (it has no path or user-agent label), so the SLIs read two
log-based metrics over Cloud Run's own request log (log_metrics.yaml: client-requests and
client-request-latencies), which leave out the checker's user agent. Their cost (a delay of a
few minutes, and ingestion priced like any user-defined metric) is in the README's on-call
section.

Each alert window becomes the condition the API accepts for it. select_slo_burn_rate looks
back at most 24 hours (Google, "Alerting on your burn rate", lookback periods), so a window
whose long window is longer (the SRE workbook's 3-day ticket) is one PromQL condition over
the same client metrics: bad share over the window / error budget, for the long and the short
window (PromQL conditions accept any range; Cloud Monitoring docs, "Mapping Cloud Monitoring
metrics to PromQL" for the metric names).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from google.cloud import monitoring_v3

import slo
from monitoring import identity, kinds
from monitoring.build import parse_message
from monitoring.catalog import promql_name
from monitoring.config import Item
from monitoring.resources import Desired

MAX_BURN_RATE_LOOKBACK = timedelta(hours=24)  # select_slo_burn_rate's limit
CLIENT_REQUESTS = identity.LOG_METRIC_TYPE_PREFIX + identity.log_metric_name("client-requests")
CLIENT_LATENCIES = identity.LOG_METRIC_TYPE_PREFIX + identity.log_metric_name(
    "client-request-latencies"
)
_CLOUD_RUN = 'resource.type="cloud_run_revision" AND resource.labels.service_name="{service}"'
_SERVER_ERRORS = 'metric.labels.code_class="5"'


def slo_name(project: str, service_id: str, objective: str) -> str:
    return f"projects/{project}/services/{service_id}/serviceLevelObjectives/{objective}"


def builtin_variables(
    slos: slo.SloSet, windows: tuple[slo.AlertWindow, ...], project: str, service_id: str
) -> dict[str, Any]:
    """The read-only variables that let dashboards and alerts refer to slo/'s numbers."""
    values: dict[str, Any] = {"slo.window_days": slos.window_days}
    for objective in slos.objectives:
        prefix = f"slo.{objective.name}"
        values[f"{prefix}.name"] = slo_name(project, service_id, objective.name)
        values[f"{prefix}.goal"] = objective.goal
        values[f"{prefix}.error_budget"] = objective.error_budget
        if objective.threshold_ms is not None:
            values[f"{prefix}.threshold_ms"] = objective.threshold_ms
            values[f"{prefix}.threshold_s"] = _threshold_s(objective)
    pages = sorted((w for w in windows if w.severity == "page"), key=lambda w: w.long_window)
    # fast_page: the page window with the shortest long window, whatever slo/ names it.
    named = [(w.name, w) for w in windows] + ([("fast_page", pages[0])] if pages else [])
    for name, window in named:
        prefix = f"alert_window.{name}"
        values[f"{prefix}.burn_rate"] = window.burn_rate_threshold(slos.window_days)
        values[f"{prefix}.long_window"] = _seconds(window.long_window)
        values[f"{prefix}.short_window"] = _seconds(window.short_window)
    return values


def build_slo_objects(
    settings: dict[str, Any],
    item: Item,
    slos: slo.SloSet,
    windows: tuple[slo.AlertWindow, ...],
    variables: dict[str, Any],
) -> list[Desired]:
    """The service, one SLO per objective, one burn-rate policy per objective and window."""
    project = variables["project"]
    source = f"{item.file}: "
    service = parse_message(kinds.SERVICE, _service_body(settings, item), _sub(item, "service"))
    service_id = settings["service"]["id"]
    service.name = f"projects/{project}/services/{service_id}"
    service.user_labels.update(identity.identity_labels(service_id))
    objects = [Desired(kinds.SERVICE, service_id, service, source + "service")]
    for objective in slos.objectives:
        message = _objective(objective, slos, variables, service.name)
        where = f"{slos.source}: objectives ({objective.name})"
        objects.append(Desired(kinds.SLO, objective.name, message, where, parent=service.name))
        for window in windows:
            policy = _burn_rate_policy(
                settings, item, objective, window, slos, message.name, _promql_where(variables)
            )
            config_id = f"slo-{objective.name}-{window.name}"
            objects.append(Desired(kinds.ALERT_POLICY, config_id, policy, source + "severities"))
    return objects


def _service_body(settings: dict[str, Any], item: Item) -> dict[str, Any]:
    body = settings["service"]
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise item.error("service.id", "is required (the custom service's id)")
    return {"displayName": body.get("displayName", ""), "custom": {}}


def _objective(
    objective: slo.Objective, slos: slo.SloSet, variables: dict[str, Any], service: str
) -> monitoring_v3.ServiceLevelObjective:
    cloud_run = _CLOUD_RUN.format(service=variables["service"])
    if "region" in variables:
        cloud_run += f' AND resource.labels.location="{variables["region"]}"'
    if objective.sli == "availability":
        requests = f'metric.type="{CLIENT_REQUESTS}"'
        ratio = monitoring_v3.TimeSeriesRatio(
            bad_service_filter=f"{requests} AND {cloud_run} AND {_SERVER_ERRORS}",
            total_service_filter=f"{requests} AND {cloud_run}",
        )
        request_based = monitoring_v3.RequestBasedSli(good_total_ratio=ratio)
    else:
        # "< max" is asked for with min = -infinity (ServiceLevelObjective Range documentation).
        # The log metric holds Cloud Run's httpRequest.latency, in seconds.
        cut = monitoring_v3.DistributionCut(
            distribution_filter=f'metric.type="{CLIENT_LATENCIES}" AND {cloud_run}',
            range_=monitoring_v3.Range(min_=-math.inf, max_=_threshold_s(objective)),
        )
        request_based = monitoring_v3.RequestBasedSli(distribution_cut=cut)
    return monitoring_v3.ServiceLevelObjective(
        name=f"{service}/serviceLevelObjectives/{objective.name}",
        display_name=objective.description or f"{objective.name}: {objective.goal:.3%}",
        service_level_indicator=monitoring_v3.ServiceLevelIndicator(request_based=request_based),
        goal=objective.goal,
        rolling_period=timedelta(days=slos.window_days),
        user_labels=identity.identity_labels(objective.name),
    )


def _burn_rate_policy(
    settings: dict[str, Any],
    item: Item,
    objective: slo.Objective,
    window: slo.AlertWindow,
    slos: slo.SloSet,
    slo_resource: str,
    promql_where: str,
) -> monitoring_v3.AlertPolicy:
    threshold = window.burn_rate_threshold(slos.window_days)
    if window.long_window <= MAX_BURN_RATE_LOOKBACK:
        conditions = [
            _burn_rate_condition(slo_resource, window.long_window, threshold),
            _burn_rate_condition(slo_resource, window.short_window, threshold),
        ]
    else:
        conditions = [_promql_burn_rate_condition(objective, window, threshold, promql_where)]
    routing = settings["severities"].get(window.severity)
    if not isinstance(routing, dict):
        raise item.error(f"severities.{window.severity}", "is required by slo/ alert windows")
    body = {
        "displayName": f"SLO {objective.name}: {window.name} "
        f"(burn rate > {threshold:g} over {_human(window.long_window)})",
        "documentation": {
            "content": _runbook(settings["documentation"], objective, window, slos, threshold),
            "mimeType": "text/markdown",
        },
        "userLabels": {"severity": window.severity, "slo": objective.name},
        "combiner": "AND",
        "conditions": conditions,
        **routing,
    }
    policy = parse_message(kinds.ALERT_POLICY, body, _sub(item, f"severities.{window.severity}"))
    policy.user_labels.update(identity.identity_labels(f"slo-{objective.name}-{window.name}"))
    return policy


def _burn_rate_condition(slo_resource: str, window: timedelta, threshold: float) -> dict[str, Any]:
    lookback = _seconds(window)
    return {
        "displayName": f"Burn rate over {_human(window)} above {threshold:g}",
        "conditionThreshold": {
            "filter": f'select_slo_burn_rate("{slo_resource}", "{lookback}")',
            "comparison": "COMPARISON_GT",
            "thresholdValue": threshold,
            "duration": "0s",
            "trigger": {"count": 1},
        },
    }


def _promql_where(variables: dict[str, Any]) -> str:
    """The PromQL matchers for the SLOs' requests: the same service, and region when there is
    one, as the SLIs' filters (_objective)."""
    where = f'monitored_resource="cloud_run_revision",service_name="{variables["service"]}"'
    if "region" in variables:
        where += f',location="{variables["region"]}"'
    return where


def _promql_burn_rate_condition(
    objective: slo.Objective, window: slo.AlertWindow, threshold: float, where: str
) -> dict[str, Any]:
    """One PromQL condition: the burn rate over the long and over the short window, both above
    the threshold (the AND of the two select_slo_burn_rate conditions of shorter tiers);
    `where`: the label matchers of the requests counted."""

    def bad_share(lookback: timedelta) -> str:
        seconds = _seconds(lookback)
        if objective.sli == "availability":
            requests = promql_name(CLIENT_REQUESTS)
            bad = f'sum(rate({requests}{{{where},code_class="5"}}[{seconds}]))'
            return f"({bad} / sum(rate({requests}{{{where}}}[{seconds}])))"
        # The share slower than the threshold: 1 - the bucket at the threshold / all. The
        # metric's bucket bounds include the threshold (validate checks it); le is matched
        # with and without a trailing ".0".
        latencies = promql_name(CLIENT_LATENCIES)
        fast = f'sum(rate({latencies}_bucket{{{where},le=~"{_le_pattern(objective)}"}}[{seconds}]))'
        return f"(1 - {fast} / sum(rate({latencies}_count{{{where}}}[{seconds}])))"

    budget = f"{objective.error_budget:.10g}"
    long_burn = f"{bad_share(window.long_window)} / {budget} > {threshold:g}"
    short_burn = f"{bad_share(window.short_window)} / {budget} > {threshold:g}"
    return {
        "displayName": (
            f"Burn rate over {_human(window.long_window)} and over "
            f"{_human(window.short_window)} above {threshold:g} (PromQL)"
        ),
        "conditionPrometheusQueryLanguage": {
            "query": f"({long_burn}) and ({short_burn})",
            "duration": "0s",
            "evaluationInterval": "300s",
        },
    }


def _le_pattern(objective: slo.Objective) -> str:
    """A regex for the bucket bound however it is printed (0.2, 0.20, 1, 1.0); written with
    [.] because PromQL strings take no backslash escapes that RE2 would see."""
    text = f"{_threshold_s(objective):g}"
    return text.replace(".", "[.]") + "0*" if "." in text else text + "([.]0*)?"


def _threshold_s(objective: slo.Objective) -> float:
    return (objective.threshold_ms or 0.0) / 1000


def _runbook(
    template: Any, objective: slo.Objective, window: slo.AlertWindow, slos: slo.SloSet, rate: float
) -> str:
    values = {
        "objective": objective.name,
        "description": objective.description,
        "goal": f"{objective.goal * 100:g}%",
        "window_days": str(slos.window_days),
        "alert": window.name,
        "severity": window.severity,
        "burn_rate": f"{rate:g}",
        "budget_share": f"{window.budget_share:.0%}",
        "long_window": _human(window.long_window),
        "short_window": _human(window.short_window),
    }
    text = str(template)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _sub(item: Item, path: str) -> Item:
    return Item(item.config_id, item.body, item.file, path)


def _seconds(window: timedelta) -> str:
    return f"{int(window.total_seconds())}s"


def _human(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
