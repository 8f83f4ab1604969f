"""The kinds of objects the toolkit manages, one module each (see base.py).

`ALL` holds every kind found in this package, in creation order (dependencies first); a new
kind is a new module defining one `Kind`. The names below are the kinds other modules refer
to directly (the SLO objects, references between kinds).
"""

from __future__ import annotations

import importlib
import pkgutil

from monitoring.kinds.alert_policy import ALERT_POLICY
from monitoring.kinds.base import Kind
from monitoring.kinds.dashboard import DASHBOARD
from monitoring.kinds.log_metric import LOG_METRIC
from monitoring.kinds.service import SERVICE
from monitoring.kinds.slo import SLO
from monitoring.kinds.uptime_check import UPTIME_CHECK


def _discover() -> tuple[Kind, ...]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base":
            continue
        namespace = vars(importlib.import_module(f"{__name__}.{module.name}"))
        found += [value for value in namespace.values() if isinstance(value, Kind)]
    unique = {id(kind): kind for kind in found}.values()
    return tuple(sorted(unique, key=lambda kind: kind.order))


ALL: tuple[Kind, ...] = _discover()

__all__ = [
    "ALERT_POLICY",
    "ALL",
    "DASHBOARD",
    "LOG_METRIC",
    "SERVICE",
    "SLO",
    "UPTIME_CHECK",
    "Kind",
]
