"""render: the exact payloads, offline and without credentials, parsed back with the official
message types; and `python -m monitoring` as a process, as nox runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.cloud import monitoring_dashboard_v1, monitoring_v3
from google.cloud.logging_v2.types import LogMetric
from google.protobuf import json_format

from monitoring.catalog import check_filter, check_group_by, check_promql, load_catalog
from tests.monitoring.helpers import DEFINITIONS, STAGING_PROJECT, run_cli

OFFICIAL_TYPES = {
    "google.logging.v2.LogMetric": LogMetric,
    "google.monitoring.v3.Service": monitoring_v3.Service,
    "google.monitoring.v3.ServiceLevelObjective": monitoring_v3.ServiceLevelObjective,
    "google.monitoring.v3.UptimeCheckConfig": monitoring_v3.UptimeCheckConfig,
    "google.monitoring.v3.AlertPolicy": monitoring_v3.AlertPolicy,
    "google.monitoring.dashboard.v1.Dashboard": monitoring_dashboard_v1.Dashboard,
}
REPOSITORY = DEFINITIONS.parent


def python_m_monitoring(*argv: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    """A separate process with no Google credentials anywhere it could find them."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("GOOGLE_", "GCLOUD"))
    }
    environment.update(
        HOME=str(home),
        GOOGLE_APPLICATION_CREDENTIALS=str(home / "no-such-key.json"),
        PYTHONPATH=str(REPOSITORY),
    )
    command = [sys.executable, "-m", "monitoring", *map(str, argv)]
    return subprocess.run(
        command, capture_output=True, text=True, env=environment, cwd=home, timeout=120
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("home")
    result = python_m_monitoring("render", "--env", "production", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def objects(document: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {o["id"]: o["payload"] for o in document["objects"] if o["kind"] == kind}


def test_every_rendered_payload_parses_with_the_official_message_type(rendered):
    assert rendered["project"] == "fashion-serve-prod"
    assert len(rendered["objects"]) == 26
    for item in rendered["objects"]:
        message_type = OFFICIAL_TYPES[item["type"]]
        message = message_type.from_json(json.dumps(item["payload"]))  # unknown fields fail here
        round_trip = json_format.MessageToDict(message_type.pb(message))
        assert round_trip == item["payload"]


def test_the_slos_are_request_based_over_client_requests_only(rendered):
    """The SLIs read log metrics over Cloud Run's request log without the uptime checker's
    probes (request_count cannot tell them apart: it has no user-agent label)."""
    service = objects(rendered, "service")["prediction-service"]
    assert service["custom"] == {} and service["userLabels"]["managed-by"] == "fashion-serve"
    slos = objects(rendered, "slo")
    availability = slos["availability"]
    assert availability["goal"] == 0.999 and availability["rollingPeriod"] == "2592000s"
    ratio = availability["serviceLevelIndicator"]["requestBased"]["goodTotalRatio"]
    assert set(ratio) == {"badServiceFilter", "totalServiceFilter"}
    requests = 'metric.type="logging.googleapis.com/user/fashion-serve-client-requests"'
    assert requests in ratio["totalServiceFilter"]
    assert ratio["badServiceFilter"].endswith('metric.labels.code_class="5"')
    cut = slos["latency"]["serviceLevelIndicator"]["requestBased"]["distributionCut"]
    latencies = 'metric.type="logging.googleapis.com/user/fashion-serve-client-request-latencies"'
    assert latencies in cut["distributionFilter"]
    assert cut["range"] == {"min": "-Infinity", "max": 0.2}  # seconds, as httpRequest.latency
    metrics = objects(rendered, "log-metric")
    for metric_id in ("client-requests", "client-request-latencies"):
        log_filter = metrics[metric_id]["filter"]
        assert 'log_id("run.googleapis.com/requests")' in log_filter
        assert 'NOT httpRequest.userAgent:"GoogleStackdriverMonitoring-UptimeChecks"' in log_filter
    bounds = metrics["client-request-latencies"]["bucketOptions"]["explicitBuckets"]["bounds"]
    assert 0.2 in bounds and bounds == sorted(bounds)
    no_requests = objects(rendered, "alert-policy")["no-requests"]
    absent = no_requests["conditions"][0]["conditionAbsent"]["filter"]
    assert requests in absent and "run.googleapis.com/request_count" not in absent


def test_burn_rate_policies_have_two_windows_combined_with_and_routed_by_severity(rendered):
    policies = objects(rendered, "alert-policy")
    page = policies["slo-availability-page-fast-burn"]
    assert page["combiner"] == "AND" and page["severity"] == "CRITICAL"
    assert page["notificationChannels"] == [
        "Production pager (PagerDuty)",
        "Production on-call (email)",
    ]
    service = "projects/fashion-serve-prod/services/prediction-service"
    slo_name = f"{service}/serviceLevelObjectives/availability"
    filters = [c["conditionThreshold"]["filter"] for c in page["conditions"]]
    assert filters == [
        f'select_slo_burn_rate("{slo_name}", "3600s")',
        f'select_slo_burn_rate("{slo_name}", "300s")',
    ]
    assert {c["conditionThreshold"]["comparison"] for c in page["conditions"]} == {"COMPARISON_GT"}
    ticket = policies["slo-latency-ticket-slow-burn"]
    assert ticket["severity"] == "WARNING"
    assert ticket["notificationChannels"] == ["Production tickets (email)"]
    assert (
        "## SLO latency: error budget burning 1x too fast (ticket)"
        in ticket["documentation"]["content"]
    )


def test_the_uptime_check_probes_the_health_route_with_an_oidc_token(rendered):
    check = objects(rendered, "uptime-check")["health"]
    assert check["monitoredResource"] == {
        "type": "cloud_run_revision",
        "labels": {
            "project_id": "fashion-serve-prod",
            "service_name": "prediction-service",
            "location": "europe-west1",
        },
    }
    assert check["httpCheck"]["path"] == "/"
    assert check["httpCheck"]["serviceAgentAuthentication"] == {"type": "OIDC_TOKEN"}
    uptime_alert = objects(rendered, "alert-policy")["uptime-check-failing"]
    assert (
        'metric.labels.check_id="@{uptime_check:health}"'
        in uptime_alert["conditions"][0]["conditionThreshold"]["filter"]
    )
    pending = next(o for o in rendered["objects"] if o["id"] == "uptime-check-failing")["pending"]
    assert pending == ["uptime check health: id known after apply"]


def test_render_writes_a_file_when_asked(tmp_path):
    output = tmp_path / "payloads.json"
    result = run_cli("render", "--env", "staging", "--output", output)
    assert result.code == 0 and result.out == f"Wrote 26 payloads to {output}.\n"
    assert json.loads(output.read_text())["project"] == STAGING_PROJECT


def test_python_m_monitoring_plans_against_the_fake(fake, tmp_path):
    result = python_m_monitoring(
        "plan", "--env", "staging", "--endpoint", fake.endpoint, home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (
        "Plan: 26 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged." in result.stdout
    )


def test_staging_has_no_burn_rate_lookback_over_24_hours_and_only_listed_labels(tmp_path):
    """What the API refuses or silently never matches, checked on the rendered payloads
    against catalog.yaml, the checked list of metric types, labels and resource types."""
    output = tmp_path / "staging.json"
    assert run_cli("render", "--env", "staging", "--output", output).code == 0
    document = json.loads(output.read_text())
    listed = load_catalog().with_log_metrics(
        {
            "logging.googleapis.com/user/" + o["payload"]["name"]: {
                label["key"] for label in o["payload"]["metricDescriptor"].get("labels", [])
            }
            for o in document["objects"]
            if o["kind"] == "log-metric"
        }
    )
    text = json.dumps(document)
    lookbacks = [int(s) for s in re.findall(r'select_slo_burn_rate\(\\"[^\\]+\\", \\"(\d+)s', text)]
    assert lookbacks and max(lookbacks) <= 86400
    problems, filters = [], 0
    for item in document["objects"]:
        if item["kind"] == "log-metric":
            continue
        for key, value, parent in _strings(item["payload"]):
            if key in ("filter", "denominatorFilter") and "logsPanel" not in parent:
                filters += 1
                problems += list(check_filter(listed, value))
            if key == "query":
                problems += list(check_promql(listed, value))
            if key == "groupByFields":
                problems += list(check_group_by(listed, parent, value))
    assert filters > 30 and problems == []


def _strings(value: Any, parent: str = "", filter_text: str = "") -> Any:
    """(key, value, context) for the strings and groupByFields of a payload; the context of
    groupByFields is the filter they aggregate."""
    if isinstance(value, dict):
        text = value.get("filter", filter_text)
        for key, item in value.items():
            if key == "groupByFields":
                yield key, item, filter_text
            elif isinstance(item, str):
                yield key, item, parent
            else:
                context = text if key != "denominatorAggregations" else value["denominatorFilter"]
                yield from _strings(item, f"{parent}.{key}", context)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, parent, filter_text)


def test_a_filter_problem_names_the_metric_it_is_about():
    """An unknown metric before a known one: the resource-type problem names the known one."""
    vertex = "aiplatform.googleapis.com/prediction/online/prediction_count"
    text = (
        'metric.type="run.googleapis.com/typo" OR '
        f'metric.type="{vertex}" AND resource.type="cloud_run_revision"'
    )
    problems = list(check_filter(load_catalog(), text))
    assert problems == [
        "unknown metric type 'run.googleapis.com/typo' (not in catalog.yaml)",
        f"metric '{vertex}' is not written for resource type 'cloud_run_revision'",
    ]
