"""How the toolkit finds its objects again: labels, never display names; and what happens
when an object must be replaced because the API cannot change it in place."""

from __future__ import annotations

from tests.monitoring.helpers import STAGING_PROJECT, create_hand_made_policy, run_cli, writes

PARENT = f"projects/{STAGING_PROJECT}"
NUMBERED = "projects/123456789012"  # where the fake, like the API, writes names back
NO_REQUESTS = "prediction-service: no client requests for 30 minutes"  # the YAML's display name


def test_a_hand_made_policy_with_the_same_display_name_is_not_taken_for_ours(fake, clients):
    hand_made = create_hand_made_policy(clients, NO_REQUESTS)
    result = run_cli("apply", "--env", "staging", "--endpoint", fake.endpoint, "--prune")
    assert result.code == 0, result.err
    assert "+ create  alert-policy no-requests" in result.out
    same_name = [p for p in fake.alerting.policies.values() if p.display_name == NO_REQUESTS]
    assert len(same_name) == 2
    untouched = fake.alerting.policies[hand_made.name]
    assert (
        dict(untouched.user_labels) == {}
        and untouched.conditions[0].condition_absent.duration.seconds == 600
    )


def test_a_changed_uptime_target_replaces_the_check_and_repoints_its_alert(fake, config_dir):
    def run(command: str, *extra: str):
        result = run_cli(
            command,
            "--env",
            "staging",
            "--endpoint",
            fake.endpoint,
            "--config-dir",
            config_dir,
            *extra,
        )
        assert result.code == 0, result.err
        return result.out

    run("apply")
    old_check = next(iter(fake.uptime.checks))
    environment = config_dir / "environments" / "staging.yaml"
    environment.write_text(
        environment.read_text().replace("region: europe-west1", "region: us-central1")
    )
    fake.calls.clear()

    out = run("plan")
    assert f"-/+ replace uptime-check health ({old_check})" in out
    assert 'monitoredResource.labels.location: "europe-west1" -> "us-central1"' in out
    assert "~ update  alert-policy uptime-check-failing" in out
    assert "uptime check health: id known after apply" in out

    out = run("apply")
    (new_check,) = fake.uptime.checks
    assert new_check != old_check
    uptime_alert = next(
        p for p in fake.alerting.policies.values() if "health route" in p.display_name
    )
    assert (
        f'check_id="{new_check.rsplit("/", 1)[-1]}"'
        in uptime_alert.conditions[0].condition_threshold.filter
    )
    assert writes(fake)["UptimeCheckService.DeleteUptimeCheckConfig"] == 1
    assert "No changes" in run("plan")


def test_a_log_metric_that_changes_type_is_deleted_then_created_under_its_name(fake, config_dir):
    def run(command: str):
        result = run_cli(
            command, "--env", "staging", "--endpoint", fake.endpoint, "--config-dir", config_dir
        )
        assert result.code == 0, result.err
        return result.out

    run("apply")
    metrics = config_dir / "log_metrics.yaml"
    text = metrics.read_text()
    counter = text[
        text.index("  - id: backend-fallbacks") : text.index("  - id: inference-latency")
    ]
    distribution = counter.replace("valueType: INT64", "valueType: DISTRIBUTION").replace(
        "      labelExtractors:",
        "      valueExtractor: EXTRACT(jsonPayload.timing_ms.infer)\n"
        "      bucketOptions: {linearBuckets: {numFiniteBuckets: 10, width: 10, offset: 0}}\n"
        "      labelExtractors:",
    )
    metrics.write_text(text.replace(counter, distribution))
    fake.calls.clear()

    assert "-/+ replace log-metric backend-fallbacks (fashion-serve-backend-fallbacks)" in run(
        "plan"
    )
    out = run("apply")
    assert "deleted  log-metric fashion-serve-backend-fallbacks" in out
    assert writes(fake) == {
        "MetricsServiceV2.DeleteLogMetric": 1,
        "MetricsServiceV2.CreateLogMetric": 1,
    }
    stored = fake.logging.metrics[f"{NUMBERED}/metrics/fashion-serve-backend-fallbacks"]
    assert stored.metric_descriptor.value_type == 5  # DISTRIBUTION
    assert "No changes" in run("plan")
