"""Burn-rate thresholds come from slo/'s arithmetic, never typed in: checked against values
computed by hand (budget share x SLO window hours / long window hours)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring.helpers import run_cli


def render(tmp_path: Path, *extra: str | Path) -> dict[str, Any]:
    output = tmp_path / "rendered.json"
    result = run_cli("render", "--env", "staging", "--output", output, *extra)
    assert result.code == 0, result.err
    return json.loads(output.read_text())


def burn_rate_conditions(document: dict[str, Any], policy_id: str) -> list[tuple[str, float]]:
    """(lookback, threshold) of each window of a burn-rate policy: two select_slo_burn_rate
    conditions, or one PromQL condition over both windows."""
    policy = next(o["payload"] for o in document["objects"] if o["id"] == policy_id)
    assert policy["combiner"] == "AND"
    found = []
    for condition in policy["conditions"]:
        if "conditionPrometheusQueryLanguage" in condition:
            query = condition["conditionPrometheusQueryLanguage"]["query"]
            ranges = list(dict.fromkeys(re.findall(r"\[(\d+s)\]", query)))
            thresholds = [float(t) for t in re.findall(r" > ([0-9.]+)\)", query)]
            assert len(ranges) == len(thresholds) == 2, query
            found += list(zip(ranges, thresholds, strict=True))
            continue
        threshold = condition["conditionThreshold"]
        lookback = threshold["filter"].rsplit('"', 2)[-2]
        found.append((lookback, threshold["thresholdValue"]))
    return found


def condition_kinds(document: dict[str, Any], policy_id: str) -> list[str]:
    policy = next(o["payload"] for o in document["objects"] if o["id"] == policy_id)
    return [next(key for key in c if key.startswith("condition")) for c in policy["conditions"]]


def test_the_shipped_windows_for_99_9_percent_over_30_days(tmp_path):
    document = render(tmp_path)
    # 30 days = 720 hours: 2% in 1 h, 5% in 6 h, 10% in 24 h, 10% in 72 h.
    expected = {
        "page-fast-burn": [("3600s", 14.4), ("300s", 14.4)],  # 0.02 x 720 / 1
        "page-slow-burn": [("21600s", 6.0), ("1800s", 6.0)],  # 0.05 x 720 / 6
        "ticket-fast-burn": [("86400s", 3.0), ("7200s", 3.0)],  # 0.10 x 720 / 24
        "ticket-slow-burn": [("259200s", 1.0), ("21600s", 1.0)],  # 0.10 x 720 / 72
    }
    for objective in ("availability", "latency"):
        for window, conditions in expected.items():
            found = burn_rate_conditions(document, f"slo-{objective}-{window}")
            assert [lookback for lookback, _ in found] == [lookback for lookback, _ in conditions]
            assert [rate for _, rate in found] == pytest.approx([rate for _, rate in conditions])


def test_windows_up_to_24_hours_use_select_slo_burn_rate_and_the_3_day_one_promql(tmp_path):
    """select_slo_burn_rate cannot look back more than 24 hours ("Alerting on your burn
    rate"): the 3-day ticket is one PromQL condition over the client-request metrics."""
    document = render(tmp_path)
    for window in ("page-fast-burn", "page-slow-burn", "ticket-fast-burn"):
        assert condition_kinds(document, f"slo-availability-{window}") == ["conditionThreshold"] * 2
    slow = "slo-availability-ticket-slow-burn"
    assert condition_kinds(document, slow) == ["conditionPrometheusQueryLanguage"]
    policy = next(o["payload"] for o in document["objects"] if o["id"] == slow)
    query = policy["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    assert "logging_googleapis_com:user_fashion_serve_client_requests" in query
    assert 'code_class="5"' in query and "/ 0.001 > 1)" in query
    # The same requests as the SLO's filters: the service, in its region.
    assert 'service_name="prediction-service",location="europe-west1"' in query
    latency = next(
        o["payload"] for o in document["objects"] if o["id"] == "slo-latency-ticket-slow-burn"
    )
    query = latency["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    assert "client_request_latencies_bucket" in query and 'le=~"0[.]20*"' in query


def test_a_hand_written_burn_rate_lookback_over_24_hours_is_refused(config_dir):
    alerts = config_dir / "alerts" / "service.yaml"
    alerts.write_text(
        alerts.read_text()
        + """
  - id: hand-written-burn
    policy:
      displayName: burn
      severity: WARNING
      notificationChannels: ${notification_channels.ticket}
      combiner: OR
      conditions:
        - displayName: 3 days
          conditionThreshold:
            filter: select_slo_burn_rate("${slo.availability.name}", "259200s")
            comparison: COMPARISON_GT
            thresholdValue: 1
            duration: 0s
      documentation: {mimeType: text/markdown, content: runbook}
"""
    )
    result = run_cli("validate", "--config-dir", config_dir)
    assert result.code == 1
    assert (
        "alerts/service.yaml: policies[3].policy.conditions[0].conditionThreshold.filter: "
        "select_slo_burn_rate lookback 259200s is refused by the API: at most 86400s"
    ) in result.err, result.err


def test_another_goal_and_window(tmp_path):
    slos = tmp_path / "slos.yaml"
    slos.write_text(
        "service: prediction-service\nwindow_days: 28\nobjectives:\n"
        "  - {name: availability, sli: availability, goal: 0.995}\n"
        "  - {name: latency, sli: latency, threshold_ms: 300, goal: 0.95}\n"
    )
    windows = tmp_path / "alert_windows.yaml"
    windows.write_text(
        "alerts:\n"
        "  - {name: page-2h, severity: page, long_window: 2h, short_window: 10m,\n"
        "     budget_share: 0.05}\n"
        "  - {name: ticket-7d, severity: ticket, long_window: 7d, short_window: 12h,\n"
        "     budget_share: 0.25}\n"
    )
    document = render(tmp_path, "--slos", slos, "--alert-windows", windows)
    # 28 days = 672 hours: 0.05 x 672 / 2 = 16.8; 0.25 x 672 / 168 = 1.
    page = burn_rate_conditions(document, "slo-availability-page-2h")
    assert [lookback for lookback, _ in page] == ["7200s", "600s"]
    assert [rate for _, rate in page] == pytest.approx([16.8, 16.8])
    assert burn_rate_conditions(document, "slo-latency-ticket-7d") == [
        ("604800s", 1.0),
        ("43200s", 1.0),
    ]
    slo = next(o["payload"] for o in document["objects"] if o["id"] == "availability")
    assert slo["goal"] == 0.995 and slo["rollingPeriod"] == str(28 * 86400) + "s"
    ids = {o["id"] for o in document["objects"] if o["kind"] == "alert-policy"}
    assert {i for i in ids if i.startswith("slo-")} == {
        "slo-availability-page-2h",
        "slo-availability-ticket-7d",
        "slo-latency-page-2h",
        "slo-latency-ticket-7d",
    }


def test_the_dashboard_draws_the_numbers_of_slo_not_copies(tmp_path):
    """Goal, latency threshold and the fast-burn line on the dashboard follow slo/'s files."""
    slos = tmp_path / "slos.yaml"
    slos.write_text(
        "service: prediction-service\nwindow_days: 28\nobjectives:\n"
        "  - {name: availability, sli: availability, goal: 0.995}\n"
        "  - {name: latency, sli: latency, threshold_ms: 300, goal: 0.95}\n"
    )
    document = render(tmp_path, "--slos", slos)
    dashboard = next(o["payload"] for o in document["objects"] if o["id"] == "service-overview")
    lines = {
        tile["widget"]["title"]: [
            t["value"] for t in tile["widget"].get("xyChart", {}).get("thresholds", [])
        ]
        for tile in dashboard["mosaicLayout"]["tiles"]
    }
    assert lines["Latency p50 / p95 / p99 (ms) against the SLO threshold"] == [300.0]
    assert lines["SLI: availability (share of non-5xx responses) against its goal"] == [0.995]
    burn = next(title for title in lines if title.startswith("Burn rate over 3600s"))
    assert lines[burn] == pytest.approx([0.02 * 672])
