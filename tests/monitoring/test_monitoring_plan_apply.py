"""plan and apply against the in-memory Google Cloud, through the CLI's entry point."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from google.cloud import monitoring_dashboard_v1

from monitoring import kinds
from monitoring.api import ProjectApi
from monitoring.errors import ApiError
from monitoring.resources import Desired, existing
from tests.monitoring.fake import FakeGoogleCloud
from tests.monitoring.helpers import STAGING_PROJECT, run_cli, writes

EVERY_OBJECT = 26  # 6 log metrics, 1 service, 2 SLOs, 1 uptime check, 14 policies, 2 dashboards


def plan(fake: FakeGoogleCloud, *extra: str | Path) -> tuple[int, str]:
    result = run_cli("plan", "--env", "staging", "--endpoint", fake.endpoint, *extra)
    return result.code, result.out + result.err


def apply(fake: FakeGoogleCloud, *extra: str | Path) -> tuple[int, str]:
    result = run_cli("apply", "--env", "staging", "--endpoint", fake.endpoint, *extra)
    return result.code, result.out + result.err


def summary(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("Plan:"))


def test_plan_on_an_empty_project_creates_everything_and_changes_nothing(fake):
    code, text = plan(fake, "--detailed-exitcode")
    assert code == 2, text
    assert summary(text) == (
        f"Plan: {EVERY_OBJECT} to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged."
    )
    for label in (
        "log-metric predictions",
        "slo availability",
        "uptime-check health",
        "alert-policy slo-latency-page-fast-burn",
        "dashboard service-overview",
    ):
        assert f"+ create  {label}" in text
    assert "uptime check health: id known after apply" in text
    assert writes(fake) == {}


def test_apply_then_plan_shows_no_changes(fake):
    code, text = apply(fake)
    assert code == 0, text
    assert f"Apply complete: {EVERY_OBJECT} change(s) made in {STAGING_PROJECT}." in text
    fake.calls.clear()

    code, text = plan(fake, "--detailed-exitcode")
    assert code == 0, text
    assert "No changes: the project matches the configuration." in text
    code, text = apply(fake)
    assert code == 0 and writes(fake) == {}, text


def test_the_api_fills_in_fields_that_the_diff_ignores(fake):
    assert apply(fake)[0] == 0
    dashboard = next(iter(fake.dashboards.dashboards.values()))
    chart = next(
        t.widget.xy_chart for t in dashboard.mosaic_layout.tiles if t.widget.xy_chart.data_sets
    )
    assert chart.chart_options.mode == monitoring_dashboard_v1.ChartOptions.Mode.COLOR
    policy = next(iter(fake.alerting.policies.values()))
    assert policy.enabled.value and policy.conditions[0].name.startswith(policy.name)
    metric = next(iter(fake.logging.metrics.values()))
    assert metric.metric_descriptor.type == f"logging.googleapis.com/user/{metric.name}"
    assert plan(fake, "--detailed-exitcode")[0] == 0


def test_editing_one_field_gives_exactly_one_update_with_that_field(fake, config_dir):
    assert apply(fake, "--config-dir", config_dir)[0] == 0
    alerts = config_dir / "alerts" / "service.yaml"
    alerts.write_text(alerts.read_text().replace("duration: 1800s", "duration: 3600s", 1))
    fake.calls.clear()

    code, text = plan(fake, "--config-dir", config_dir, "--detailed-exitcode")
    assert code == 2, text
    assert summary(text).startswith("Plan: 0 to create, 1 to update, 0 to replace, 0 to delete")
    assert re.search(r"~ update +alert-policy no-requests \(projects/.+/alertPolicies/\d+\)", text)
    assert 'conditions[0].conditionAbsent.duration: "1800s" -> "3600s"' in text

    code, text = apply(fake, "--config-dir", config_dir)
    assert code == 0, text
    assert writes(fake) == {"AlertPolicyService.UpdateAlertPolicy": 1}
    request = fake.state.requests["AlertPolicyService.UpdateAlertPolicy"][0]
    assert sorted(request.update_mask.paths) == ["conditions", "user_labels"]
    assert plan(fake, "--config-dir", config_dir, "--detailed-exitcode")[0] == 0


def test_a_field_removed_from_the_yaml_is_removed_from_the_project(fake, config_dir):
    assert apply(fake, "--config-dir", config_dir)[0] == 0
    alerts = config_dir / "alerts" / "service.yaml"
    text = alerts.read_text()
    subject = '        subject: "${service} close to its memory limit"\n'
    assert subject in text
    alerts.write_text(text.replace(subject, ""))

    out = plan(fake, "--config-dir", config_dir)[1]
    assert "~ update  alert-policy memory-high" in out
    assert "a field was removed from the configuration" in out
    assert apply(fake, "--config-dir", config_dir)[0] == 0
    policy = next(p for p in fake.alerting.policies.values() if "memory" in p.display_name)
    assert policy.documentation.subject == ""
    assert plan(fake, "--config-dir", config_dir, "--detailed-exitcode")[0] == 0


def test_a_dashboard_is_updated_with_its_current_etag(fake, config_dir):
    assert apply(fake, "--config-dir", config_dir)[0] == 0
    dashboard_file = config_dir / "dashboards" / "model-and-vertex.yaml"
    text = dashboard_file.read_text()
    dashboard_file.write_text(
        text.replace('title: "Vertex AI: predictions/s"', "title: Vertex AI predictions per second")
    )
    before = {d.display_name: d.etag for d in fake.dashboards.dashboards.values()}

    out = plan(fake, "--config-dir", config_dir)[1]
    changed = '"Vertex AI: predictions/s" -> "Vertex AI predictions per second"'
    assert f"mosaicLayout.tiles[1].widget.title: {changed}" in out
    assert apply(fake, "--config-dir", config_dir)[0] == 0
    request = fake.state.requests["DashboardsService.UpdateDashboard"][0]
    assert request.dashboard.etag == before[request.dashboard.display_name]


def test_a_stale_dashboard_etag_is_refused_with_a_clear_error(fake, clients):
    assert apply(fake)[0] == 0
    api = ProjectApi(clients, STAGING_PROJECT)
    read = existing(kinds.DASHBOARD, api.list(kinds.DASHBOARD)[0])
    desired = Desired(kinds.DASHBOARD, read.key or "", read.message, "test")
    api.update(read, desired, [])  # the etag just read is current: accepted, and replaced
    with pytest.raises(ApiError, match=r"update dashboard .*: ABORTED: etag .* is stale"):
        api.update(read, desired, [])  # the same etag again is now stale


def test_an_unknown_notification_channel_is_a_configuration_error(fake, config_dir):
    environment = config_dir / "environments" / "staging.yaml"
    environment.write_text(
        environment.read_text().replace('ticket: ["Staging on-call (email)"]', 'ticket: ["Nobody"]')
    )
    code, text = plan(fake, "--config-dir", config_dir)
    assert code == 1
    assert "notificationChannels: no notification channel has the display name 'Nobody'" in text
    assert writes(fake) == {}


def test_a_failed_apply_is_finished_by_running_it_again(fake):
    fake.state.fail_once["DashboardsService.CreateDashboard"] = (
        grpc.StatusCode.PERMISSION_DENIED,
        "roles/monitoring.dashboardEditor is needed",
    )
    code, text = apply(fake)
    assert code == 3
    assert "API error: create dashboard model-and-vertex: PERMISSION_DENIED" in text
    assert "run apply again" in text
    code, text = apply(fake)
    assert code == 0, text
    assert "Plan: 2 to create, 0 to update, 0 to replace, 0 to delete, 24 unchanged." in text
    assert plan(fake, "--detailed-exitcode")[0] == 0
