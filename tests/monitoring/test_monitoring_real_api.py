"""Against a fake that behaves like Cloud Monitoring where it differs from the obvious: names
written back with the project number, new log metrics unknown for a while, transient errors,
non-updatable fields. A fresh project must take one apply; the second changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from tests.monitoring.fake import FakeGoogleCloud
from tests.monitoring.helpers import STAGING_PROJECT, run_cli, writes

NUMBER = "projects/123456789012"
PROJECT = f"projects/{STAGING_PROJECT}"


def cli(command: str, fake: FakeGoogleCloud, *extra: str | Path) -> tuple[int, str]:
    result = run_cli(command, "--env", "staging", "--endpoint", fake.endpoint, *extra)
    return result.code, result.out + result.err


@pytest.mark.parametrize("echo", [NUMBER, PROJECT], ids=["number", "project-id"])
def test_a_fresh_project_takes_one_apply_and_the_second_changes_nothing(fake, echo):
    fake.echo_project_number(echo == NUMBER)
    fake.state.metric_propagation_seconds = 1.0  # minutes in Google; the alerts must wait
    code, text = cli("apply", fake)
    assert code == 0, text
    assert "waiting    create alert-policy" in text
    assert "is not known to Cloud Monitoring yet" in text
    # The API wrote every name back in that form, SLO references included.
    assert all(name.startswith(f"{echo}/") for name in fake.service_monitoring.slos)
    burn = next(p for p in fake.alerting.policies.values() if "page-fast-burn" in str(p))
    assert burn.conditions[0].condition_threshold.filter.startswith(
        f'select_slo_burn_rate("{echo}/services/prediction-service/'
    )
    fake.calls.clear()

    code, text = cli("apply", fake)
    assert code == 0 and "No changes: the project matches the configuration." in text, text
    assert writes(fake) == {}
    assert cli("plan", fake, "--detailed-exitcode")[0] == 0
    code, text = cli("plan", fake, "--prune")
    assert "0 to delete" in text and "- delete" not in text, text


def test_an_apply_that_gives_up_waiting_is_finished_by_a_rerun(fake):
    fake.state.metric_propagation_seconds = 1.5
    code, text = cli("apply", fake, "--metric-wait", "0.1")
    assert code == 3, text
    assert "gave up retrying: NOT_FOUND: Cannot find metric(s)" in text
    assert "run apply again to finish" in text
    time.sleep(1.5)
    code, text = cli("apply", fake)
    assert code == 0 and "0 to delete" in text, text
    assert "Plan: 0 to create" not in text  # the rerun had work left and did it
    assert cli("plan", fake, "--detailed-exitcode")[0] == 0


def test_transient_errors_are_retried_by_the_client_library(fake):
    fake.state.fail_once["DashboardsService.CreateDashboard"] = (
        grpc.StatusCode.UNAVAILABLE,
        "the service is currently unavailable",
    )
    code, text = cli("apply", fake)
    assert code == 0, text
    assert fake.calls["DashboardsService.CreateDashboard"] == 3  # one refused, two created


def test_an_update_mask_names_only_the_changed_fields(fake, config_dir):
    assert cli("apply", fake, "--config-dir", config_dir)[0] == 0
    checks = config_dir / "uptime_checks.yaml"
    checks.write_text(checks.read_text().replace("timeout: 10s", "timeout: 20s"))
    fake.calls.clear()
    code, text = cli("apply", fake, "--config-dir", config_dir)
    assert code == 0, text
    request = fake.state.requests["UptimeCheckService.UpdateUptimeCheckConfig"][0]
    assert sorted(request.update_mask.paths) == ["timeout", "user_labels"]
    assert cli("plan", fake, "--config-dir", config_dir, "--detailed-exitcode")[0] == 0


def test_a_field_the_api_cannot_update_is_planned_as_a_replacement(fake, config_dir):
    assert cli("apply", fake, "--config-dir", config_dir)[0] == 0
    checks = config_dir / "uptime_checks.yaml"
    checks.write_text(checks.read_text().replace("period: 60s", "period: 300s"))
    text = cli("plan", fake, "--config-dir", config_dir)[1]
    assert "-/+ replace uptime-check health" in text, text
    assert cli("apply", fake, "--config-dir", config_dir)[0] == 0
    (check,) = fake.uptime.checks.values()
    assert check.period.seconds == 300
    assert cli("plan", fake, "--config-dir", config_dir, "--detailed-exitcode")[0] == 0


def test_a_field_removed_from_a_log_metric_is_detected_by_its_digest(fake, config_dir):
    assert cli("apply", fake, "--config-dir", config_dir)[0] == 0
    metrics = config_dir / "log_metrics.yaml"
    text = metrics.read_text()
    start = text.index("  - id: backend-fallbacks")
    unit = '        unit: "1"\n'
    metrics.write_text(text[:start] + text[start:].replace(unit, "", 1))
    code, text = cli("plan", fake, "--config-dir", config_dir, "--detailed-exitcode")
    assert code == 2 and "~ update  log-metric backend-fallbacks" in text, text
    assert cli("apply", fake, "--config-dir", config_dir)[0] == 0
    stored = fake.logging.metrics[f"{NUMBER}/metrics/fashion-serve-backend-fallbacks"]
    assert stored.metric_descriptor.unit == ""
    assert "(managed-by: fashion-serve; config-sha: " in stored.description
    assert cli("plan", fake, "--config-dir", config_dir, "--detailed-exitcode")[0] == 0
