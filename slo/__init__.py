"""The service's SLOs as data, the error-budget arithmetic and the release statistics.

slos.yaml and alert_windows.yaml hold the numbers; budget and stats the arithmetic. Used by
loadtest/ (the release gate) and monitoring/ (Cloud Monitoring SLOs and alerts), so the
targets are written once.
"""

from slo import budget, stats
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
    "stats",
]
