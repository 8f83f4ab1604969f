"""The service's SLOs as data (slos.yaml, alert_windows.yaml) and the error-budget arithmetic.

Used by loadtest/ (the release gate) and monitoring/ (Cloud Monitoring SLOs and alerts), so the
targets are written once.
"""

from slo import budget
from slo.config import (
    DEFAULT_ALERT_WINDOWS_PATH,
    DEFAULT_SLOS_PATH,
    MAX_GOAL,
    AlertWindow,
    Objective,
    SloConfigError,
    SloSet,
    load_alert_windows,
    load_slos,
    parse_duration,
)

__all__ = [
    "DEFAULT_ALERT_WINDOWS_PATH",
    "DEFAULT_SLOS_PATH",
    "MAX_GOAL",
    "AlertWindow",
    "Objective",
    "SloConfigError",
    "SloSet",
    "budget",
    "load_alert_windows",
    "load_slos",
    "parse_duration",
]
