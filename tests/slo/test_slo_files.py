"""Loading slos.yaml: the committed file, and errors that name the file, the field and why."""

from pathlib import Path

import pytest

import slo

VALID = """\
service: prediction-service
window_days: 28
objectives:
  - name: availability
    sli: availability
    goal: 0.999
  - name: latency
    sli: latency
    threshold_ms: 200
    goal: 0.95
"""


def write(tmp_path: Path, text: str, name: str = "slos.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_committed_slos_hold_the_seed_targets():
    slos = slo.load_slos()
    assert slos.service == "prediction-service"
    assert slos.window_days == 30
    assert slos.source == slo.DEFAULT_SLOS_PATH
    availability = slos.objective("availability")
    assert (availability.sli, availability.goal, availability.threshold_ms) == (
        "availability",
        0.999,
        None,
    )
    assert availability.error_budget == pytest.approx(0.001)
    latency = slos.objective("latency")
    assert (latency.sli, latency.threshold_ms, latency.goal) == ("latency", 200.0, 0.99)


def test_a_valid_file_loads(tmp_path):
    slos = slo.load_slos(write(tmp_path, VALID))
    assert slos.window_days == 28
    assert [o.name for o in slos.objectives] == ["availability", "latency"]
    assert slos.objectives[1].error_budget == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("goal: 0.95", "goal: 1.5", "objectives[1].goal", "must be > 0 and <= 0.999"),
        ("goal: 0.95", "goal: '95%'", "objectives[1].goal", "must be a number"),
        ("goal: 0.999", "goal: yes", "objectives[0].goal", "must be a number"),
        ("    threshold_ms: 200\n", "", "objectives[1].threshold_ms", "is required"),
        ("threshold_ms: 200", "threshold_ms: -5", "objectives[1].threshold_ms", "must be > 0"),
        ("sli: latency", "sli: throughput", "objectives[1].sli", "must be one of"),
        ("window_days: 28", "window_days: 90", "window_days", "from 1 to 30"),
        ("service: prediction-service\n", "", "service", "is required"),
        ("name: latency", "name: availability", "objectives[1].name", "duplicate name"),
        ("name: latency", "name: Latency SLO", "objectives[1].name", "lower-case"),
        (
            "    goal: 0.999\n",
            "    goal: 0.999\n    treshold_ms: 5\n",
            "objectives[0].treshold_ms",
            "unknown field",
        ),
        (
            "    goal: 0.999\n",
            "    goal: 0.999\n    threshold_ms: 5\n",
            "objectives[0].threshold_ms",
            "only applies to sli: latency",
        ),
    ],
)
def test_schema_errors_name_file_field_and_reason(tmp_path, old, new, field, reason):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(slo.SloConfigError) as caught:
        slo.load_slos(path)
    error = caught.value
    assert (error.source, error.field) == (path, field)
    assert reason in error.reason
    assert str(error).startswith(f"{path}: {field}: ")


def test_empty_objectives_are_rejected(tmp_path):
    path = write(tmp_path, "service: s\nwindow_days: 30\nobjectives: []\n")
    with pytest.raises(slo.SloConfigError, match=r"objectives: must be a non-empty list"):
        slo.load_slos(path)


def test_a_missing_file_and_broken_yaml_are_config_errors(tmp_path):
    with pytest.raises(slo.SloConfigError, match="cannot be read"):
        slo.load_slos(tmp_path / "absent.yaml")
    path = write(tmp_path, "service: [unclosed\n")
    with pytest.raises(slo.SloConfigError, match="is not valid YAML") as caught:
        slo.load_slos(path)
    assert caught.value.field.startswith("line ")


def test_a_list_at_top_level_is_rejected(tmp_path):
    with pytest.raises(slo.SloConfigError, match=r"\(top level\): must be a mapping, got list"):
        slo.load_slos(write(tmp_path, "- a\n- b\n"))


ALERTS = """\
alerts:
  - name: page-fast
    severity: page
    long_window: 1h
    short_window: 5m
    budget_share: 0.02
"""


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("long_window: 1h", "long_window: 1 hour", "alerts[0].long_window", "like 5m, 1h or 3d"),
        ("short_window: 5m", "short_window: 2h", "alerts[0].short_window", "shorter than"),
        ("severity: page", "severity: email", "alerts[0].severity", "must be one of"),
        ("budget_share: 0.02", "budget_share: 2", "alerts[0].budget_share", "<= 1"),
    ],
)
def test_alert_window_errors_name_the_field(tmp_path, old, new, field, reason):
    path = write(tmp_path, ALERTS.replace(old, new), "alert_windows.yaml")
    with pytest.raises(slo.SloConfigError) as caught:
        slo.load_alert_windows(path)
    assert (caught.value.source, caught.value.field) == (path, field)
    assert reason in caught.value.reason
