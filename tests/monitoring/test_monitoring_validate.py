"""validate: schema and meaning, errors that name the file and the path inside it, and nothing
sent to the API when the configuration is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.monitoring.helpers import run_cli


def edit(config_dir: Path, relative: str, old: str, new: str) -> None:
    path = config_dir / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1))


def test_the_shipped_definitions_are_valid_for_every_environment():
    result = run_cli("validate")
    assert result.code == 0, result.err
    assert result.out == "Configuration valid for production (26 objects), staging (26 objects).\n"


# (file, text replaced, replacement, what the error says): one wrong thing at a time.
WRONG_DEFINITIONS = {
    "unknown field": (
        "dashboards/service-overview.yaml",
        "          xyChart:",
        "          xyChartt:",
        "dashboards/service-overview.yaml: dashboard.mosaicLayout.tiles[1].widget.xyChartt: "
        "unknown field (known: title, xyChart, scorecard,",
    ),
    "undefined variable": (
        "alerts/service.yaml",
        "${memory_utilization_alert}\n",
        "${memory_utilisation_alert}\n",
        "alerts/service.yaml: policies[2].policy.conditions[0].conditionThreshold."
        "thresholdValue: variable ${memory_utilisation_alert} is not defined",
    ),
    "alignment period": (
        "alerts/model.yaml",
        "- alignmentPeriod: 300s",
        "- alignmentPeriod: 30s",
        "alerts/model.yaml: policies[0].policy.conditions[0].conditionThreshold."
        "aggregations[0].alignmentPeriod: 30s is below the 60s minimum",
    ),
    "unknown metric type": (
        "dashboards/model-and-vertex.yaml",
        "prediction/online/response_count",
        "prediction/online/responses",
        "dashboards/model-and-vertex.yaml: dashboard.mosaicLayout.tiles[3].widget.xyChart."
        "dataSets[0].timeSeriesQuery.timeSeriesFilter.filter: unknown metric type "
        "'aiplatform.googleapis.com/prediction/online/responses' (not in catalog.yaml)",
    ),
    "a label the metric does not have (error_count has no response_code)": (
        "dashboards/model-and-vertex.yaml",
        'prediction/online/response_count"\n                      resource.type',
        'prediction/online/error_count"\n                      resource.type',
        "dashboards/model-and-vertex.yaml: dashboard.mosaicLayout.tiles[3].widget.xyChart."
        "dataSets[0].timeSeriesQuery.timeSeriesFilter.aggregation.groupByFields: metric label "
        "'response_code' is not a label of the metric in this filter",
    ),
    "a resource label not on the list": (
        "alerts/service.yaml",
        'resource.labels.service_name="${service}"',
        'resource.labels.service="${service}"',
        "alerts/service.yaml: policies[0].policy.conditions[0].conditionAbsent.filter: "
        "resource label 'service' is not a label of cloud_run_revision",
    ),
    "an uptime check target label not on the list": (
        "uptime_checks.yaml",
        "          service_name: ${service}",
        "          service: ${service}",
        "uptime_checks.yaml: uptime_checks[0].check.monitoredResource: "
        "resource label 'service' is not a label of cloud_run_revision",
    ),
    "a latency bucket bound that is not the SLO threshold": (
        "log_metrics.yaml",
        '"${slo.latency.threshold_s}"',
        "0.3",
        "log_metrics.yaml: log_metrics[1].metric.bucketOptions: "
        "bucketOptions.explicitBuckets.bounds",
    ),
    "overlapping tiles": (
        "dashboards/service-overview.yaml",
        "      - xPos: 24\n        yPos: 4",
        "      - xPos: 20\n        yPos: 4",
        "dashboards/service-overview.yaml: dashboard.mosaicLayout.tiles[2]: overlaps tiles[1]",
    ),
    "no severity": (
        "alerts/model.yaml",
        "      severity: WARNING\n",
        "",
        "alerts/model.yaml: policies[1].policy.severity: is required: CRITICAL, ERROR or WARNING",
    ),
    "uptime check without OIDC": (
        "uptime_checks.yaml",
        "type: OIDC_TOKEN",
        "type: SERVICE_AGENT_AUTHENTICATION_TYPE_UNSPECIFIED",
        "uptime_checks.yaml: uptime_checks[0].check.httpCheck.serviceAgentAuthentication: "
        "must be {type: OIDC_TOKEN}",
    ),
    "unknown uptime check": (
        "alerts/service.yaml",
        "@{uptime_check:health}",
        "@{uptime_check:healthz}",
        "@{uptime_check:healthz} is not a configured uptime check",
    ),
    "undeclared log metric label": (
        "log_metrics.yaml",
        "        backend: EXTRACT(jsonPayload.backend)\n      bucketOptions",
        "        backends: EXTRACT(jsonPayload.backend)\n      bucketOptions",
        "log_metrics.yaml: log_metrics[5].metric.labelExtractors.backends: "
        "is not a label of metricDescriptor.labels",
    ),
    "duplicate key": (
        "alerts/model.yaml",
        "  - id: backend-fallbacks\n    policy:\n",
        "  - id: backend-fallbacks\n    policy:\n      displayName: twice\n",
        "alerts/model.yaml: line 62: invalid YAML: duplicate key 'displayName'",
    ),
}


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"), WRONG_DEFINITIONS.values(), ids=WRONG_DEFINITIONS
)
def test_a_wrong_definition_is_reported_with_its_file_and_path(
    config_dir, relative, old, new, expected
):
    edit(config_dir, relative, old, new)
    result = run_cli("validate", "--config-dir", config_dir)
    assert result.code == 1
    assert expected in result.err, result.err
    assert result.err.endswith("nothing was sent.\n")


def test_a_configuration_error_is_reported_before_any_call(fake, config_dir):
    edit(
        config_dir, "dashboards/service-overview.yaml", "          xyChart:", "          xyChartt:"
    )
    edit(config_dir, "environments/staging.yaml", "region: europe-west1\n", "")
    result = run_cli(
        "apply", "--env", "staging", "--endpoint", fake.endpoint, "--config-dir", config_dir
    )
    assert result.code == 1
    assert "staging.yaml: region: is required (a non-empty string)" in result.err
    assert sum(fake.calls.values()) == 0


def test_every_error_is_reported_at_once(config_dir):
    edit(config_dir, "alerts/model.yaml", "      severity: WARNING\n", "")
    edit(
        config_dir, "dashboards/service-overview.yaml", "          xyChart:", "          xyChartt:"
    )
    result = run_cli("validate", "--config-dir", config_dir, "--env", "production")
    assert "2 configuration error(s); nothing was sent." in result.err
    assert "alerts/model.yaml" in result.err and "service-overview.yaml" in result.err


def test_a_burn_rate_threshold_that_can_never_fire_is_refused(tmp_path):
    """With a 90% goal the burn rate cannot exceed 1 / 0.1 = 10, so a 14.4x alert is dead."""
    slos = tmp_path / "slos.yaml"
    slos.write_text(
        "service: prediction-service\nwindow_days: 30\nobjectives:\n"
        "  - {name: availability, sli: availability, goal: 0.9}\n"
        "  - {name: latency, sli: latency, threshold_ms: 200, goal: 0.99}\n"
    )
    result = run_cli("validate", "--slos", slos)
    assert result.code == 1
    assert (
        "alert_windows.yaml: alerts[0] (page-fast-burn) for objective availability: burn-rate "
        "threshold 14.4 can never be exceeded: with goal 0.9 the highest possible burn rate is 10"
    ) in result.err


def test_an_alert_window_longer_than_the_slo_window_is_an_error_not_a_traceback(tmp_path):
    """Its burn rate cannot be computed; validate says so before anything tries."""
    shipped = Path(__file__).resolve().parents[2] / "slo" / "alert_windows.yaml"
    windows = tmp_path / "alert_windows.yaml"
    windows.write_text(shipped.read_text().replace("long_window: 1d", "long_window: 40d", 1))
    result = run_cli("validate", "--alert-windows", windows)
    assert result.code == 1
    assert "Traceback" not in result.err
    assert (
        f"{windows}: alerts[2] (ticket-fast-burn) for objective availability: long_window "
        "40 days, 0:00:00 is longer than the SLO window"
    ) in result.err


def test_errors_in_slo_files_name_the_slo_file(tmp_path):
    slos = tmp_path / "slos.yaml"
    slos.write_text("service: s\nwindow_days: 45\nobjectives: []\n")
    result = run_cli("validate", "--slos", slos)
    assert result.code == 1
    assert f"{slos}: window_days: must be a whole number from 1 to 30, got 45" in result.err


def test_commands_that_need_an_environment_say_so():
    result = run_cli("plan")
    assert result.code == 1
    assert "(command line): --env: is required by plan" in result.err
    unknown = run_cli("render", "--env", "qa")
    assert unknown.code == 1
    assert "no such environment file (known environments: production, staging)" in unknown.err
