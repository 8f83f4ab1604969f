"""--prune deletes only what carries the toolkit's mark; objects made by hand are never touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.cloud import monitoring_dashboard_v1, monitoring_v3
from google.cloud.logging_v2.types import LogMetric

from monitoring.clients import Clients
from tests.monitoring.fake import FakeGoogleCloud
from tests.monitoring.helpers import STAGING_PROJECT, create_hand_made_policy, run_cli, writes

PARENT = f"projects/{STAGING_PROJECT}"


def by_hand(clients: Clients) -> None:
    """One object of each kind, as someone would make them in the console: no managed-by mark
    (the log metric even carries the toolkit's name prefix, but not its description marker)."""
    create_hand_made_policy(clients, "hand-made: CPU", team="ml")
    clients.dashboards.create_dashboard(
        request={
            "parent": PARENT,
            "dashboard": monitoring_dashboard_v1.Dashboard(
                display_name="hand-made dashboard",
                mosaic_layout=monitoring_dashboard_v1.MosaicLayout(columns=48),
            ),
        }
    )
    clients.log_metrics.create_log_metric(
        parent=PARENT,
        metric=LogMetric(name="fashion-serve-experiment", filter="severity>=ERROR"),
    )
    clients.uptime_checks.create_uptime_check_config(
        parent=PARENT,
        uptime_check_config=monitoring_v3.UptimeCheckConfig(
            display_name="hand-made check",
            timeout={"seconds": 10},
            monitored_resource={"type": "uptime_url", "labels": {"host": "example.com"}},
            http_check=monitoring_v3.UptimeCheckConfig.HttpCheck(path="/"),
        ),
    )


def drop_memory_alert(config_dir: Path) -> None:
    alerts = config_dir / "alerts" / "service.yaml"
    text = alerts.read_text()
    start = text.index("  - id: memory-high")
    alerts.write_text(text[:start])


def command(name: str, fake: FakeGoogleCloud, config_dir: Path, *extra: str) -> str:
    result = run_cli(
        name, "--env", "staging", "--endpoint", fake.endpoint, "--config-dir", config_dir, *extra
    )
    assert result.code == 0, result.out + result.err
    return result.out


@pytest.fixture
def applied_with_hand_made_objects(fake, clients, config_dir) -> FakeGoogleCloud:
    by_hand(clients)
    command("apply", fake, config_dir)
    drop_memory_alert(config_dir)
    fake.calls.clear()
    return fake


def test_without_prune_an_unconfigured_managed_object_is_kept_and_reported(
    applied_with_hand_made_objects, config_dir
):
    fake = applied_with_hand_made_objects
    out = command("plan", fake, config_dir)
    assert "= kept    alert-policy memory-high" in out
    assert "--prune deletes it" in out
    assert "0 to delete" in out
    command("apply", fake, config_dir)
    assert writes(fake) == {}


def test_prune_deletes_only_managed_objects(applied_with_hand_made_objects, config_dir):
    fake = applied_with_hand_made_objects
    out = command("plan", fake, config_dir, "--prune")
    assert "- delete  alert-policy memory-high" in out
    assert "Plan: 0 to create, 0 to update, 0 to replace, 1 to delete" in out

    command("apply", fake, config_dir, "--prune")
    assert writes(fake) == {"AlertPolicyService.DeleteAlertPolicy": 1}
    policies = {p.display_name for p in fake.alerting.policies.values()}
    assert "hand-made: CPU" in policies
    assert not any("memory" in name for name in policies)
    assert "hand-made dashboard" in {d.display_name for d in fake.dashboards.dashboards.values()}
    assert "projects/123456789012/metrics/fashion-serve-experiment" in fake.logging.metrics
    assert "hand-made check" in {c.display_name for c in fake.uptime.checks.values()}


def test_prune_removes_a_whole_kind_of_managed_objects_in_dependency_order(
    applied_with_hand_made_objects, config_dir
):
    """Without the uptime check, the alerts go first (one is on the check), then the check."""
    fake = applied_with_hand_made_objects
    (config_dir / "uptime_checks.yaml").write_text("uptime_checks: []\n")
    service_alerts = config_dir / "alerts" / "service.yaml"
    text = service_alerts.read_text()
    service_alerts.write_text(text[: text.index("  - id: uptime-check-failing")])

    out = command("apply", fake, config_dir, "--prune")
    deleted = [line.split()[1] for line in out.splitlines() if line.startswith("deleted")]
    assert deleted == ["alert-policy", "alert-policy", "uptime-check"]
    assert [c.display_name for c in fake.uptime.checks.values()] == ["hand-made check"]
