"""Load and validate slos.yaml and alert_windows.yaml (schemas documented in the files)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from slo import budget
from slo.fields import FieldError, FieldReader, kind, read_yaml

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SLOS_PATH = PACKAGE_DIR / "slos.yaml"
DEFAULT_ALERT_WINDOWS_PATH = PACKAGE_DIR / "alert_windows.yaml"

SLI_KINDS = ("availability", "latency")
SEVERITIES = ("page", "ticket")
# Cloud Monitoring accepts rolling periods of whole days up to 30. Its goal bound is 0.9999 in the
# current API reference, 0.999 in Terraform's and older ones: the stricter bound works with both.
MAX_WINDOW_DAYS = 30
MAX_GOAL = 0.999
_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class SloConfigError(FieldError):
    """A definitions file is wrong; str() names the file, the field and the reason."""


@dataclass(frozen=True)
class Objective:
    name: str
    sli: Literal["availability", "latency"]
    goal: float
    threshold_ms: float | None = None
    description: str = ""

    @property
    def error_budget(self) -> float:
        return budget.error_budget(self.goal)


@dataclass(frozen=True)
class SloSet:
    service: str
    window_days: int
    objectives: tuple[Objective, ...]
    source: Path

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    def objective(self, name: str) -> Objective:
        for objective in self.objectives:
            if objective.name == name:
                return objective
        raise KeyError(name)


@dataclass(frozen=True)
class AlertWindow:
    name: str
    severity: Literal["page", "ticket"]
    long_window: timedelta
    short_window: timedelta
    budget_share: float

    def burn_rate_threshold(self, slo_window_days: int) -> float:
        slo_window = timedelta(days=slo_window_days)
        return budget.burn_rate_threshold(self.budget_share, slo_window, self.long_window)


def load_slos(path: Path | None = None) -> SloSet:
    """Read and validate an SLO definitions file (default: slo/slos.yaml)."""
    source = Path(path) if path is not None else DEFAULT_SLOS_PATH
    reader = _Reader(source)
    document = reader.mapping(
        read_yaml(source, SloConfigError), "(top level)", {"service", "window_days", "objectives"}
    )
    service = reader.text(document, "service", "service")
    window_days = reader.integer(document, "window_days", "window_days", 1, MAX_WINDOW_DAYS)
    items = reader.non_empty_list(document, "objectives", "objectives")
    objectives = tuple(reader.objective(item, f"objectives[{i}]") for i, item in enumerate(items))
    reader.unique([o.name for o in objectives], "objectives", "name")
    return SloSet(service, window_days, objectives, source)


def load_alert_windows(path: Path | None = None) -> tuple[AlertWindow, ...]:
    """Read and validate the multi-window alert sets (default: slo/alert_windows.yaml)."""
    source = Path(path) if path is not None else DEFAULT_ALERT_WINDOWS_PATH
    reader = _Reader(source)
    document = reader.mapping(read_yaml(source, SloConfigError), "(top level)", {"alerts"})
    items = reader.non_empty_list(document, "alerts", "alerts")
    windows = tuple(reader.alert_window(item, f"alerts[{i}]") for i, item in enumerate(items))
    reader.unique([w.name for w in windows], "alerts", "name")
    return windows


def parse_duration(text: str) -> timedelta:
    """'5m', '1h', '3d' -> timedelta; ValueError for anything else."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected a duration like 5m, 1h or 3d, got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class _Reader(FieldReader):
    """Typed field access that turns every problem into a SloConfigError naming the field."""

    error = SloConfigError

    def required(self, document: dict[str, Any], key: str, field: str) -> Any:
        if key not in document or document[key] is None:
            raise self.fail(field, "is required")
        return document[key]

    def text(self, document: dict[str, Any], key: str, field: str) -> str:
        value = self.required(document, key, field)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"must be a non-empty string, got {value!r}")
        return value

    def number(self, document: dict[str, Any], key: str, field: str) -> float:
        value = self.required(document, key, field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"must be a number, got {value!r}")
        return float(value)

    def integer(self, document: dict[str, Any], key: str, field: str, low: int, high: int) -> int:
        value = self.required(document, key, field)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(field, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def choice(
        self, document: dict[str, Any], key: str, field: str, options: tuple[str, ...]
    ) -> str:
        value = self.required(document, key, field)
        if value not in options:
            raise self.fail(field, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def identifier(self, document: dict[str, Any], key: str, field: str) -> str:
        value = self.text(document, key, field)
        if not _ID.match(value):
            raise self.fail(field, f"must be lower-case letters, digits and dashes, got {value!r}")
        return value

    def non_empty_list(self, document: dict[str, Any], key: str, field: str) -> list[Any]:
        value = self.required(document, key, field)
        if not isinstance(value, list) or not value:
            raise self.fail(field, f"must be a non-empty list, got {kind(value)}")
        return value

    def unique(self, names: list[str], field: str, key: str) -> None:
        for index, name in enumerate(names):
            if name in names[:index]:
                raise self.fail(f"{field}[{index}].{key}", f"duplicate name {name!r}")

    def objective(self, item: Any, field: str) -> Objective:
        allowed = {"name", "sli", "goal", "threshold_ms", "description"}
        item = self.mapping(item, field, allowed)
        name = self.identifier(item, "name", f"{field}.name")
        sli = self.choice(item, "sli", f"{field}.sli", SLI_KINDS)
        goal = self.number(item, "goal", f"{field}.goal")
        if not 0.0 < goal <= MAX_GOAL:
            raise self.fail(f"{field}.goal", f"must be > 0 and <= {MAX_GOAL}, got {goal!r}")
        threshold_ms = None
        if sli == "latency":
            threshold_ms = self.number(item, "threshold_ms", f"{field}.threshold_ms")
            if threshold_ms <= 0:
                raise self.fail(f"{field}.threshold_ms", f"must be > 0, got {threshold_ms!r}")
        elif "threshold_ms" in item:
            raise self.fail(f"{field}.threshold_ms", "only applies to sli: latency")
        description = item.get("description") or ""
        if not isinstance(description, str):
            raise self.fail(f"{field}.description", f"must be a string, got {description!r}")
        return Objective(name, sli, goal, threshold_ms, description)

    def alert_window(self, item: Any, field: str) -> AlertWindow:
        allowed = {"name", "severity", "long_window", "short_window", "budget_share"}
        item = self.mapping(item, field, allowed)
        name = self.identifier(item, "name", f"{field}.name")
        severity = self.choice(item, "severity", f"{field}.severity", SEVERITIES)
        long_window = self.duration(item, "long_window", f"{field}.long_window")
        short_window = self.duration(item, "short_window", f"{field}.short_window")
        if short_window >= long_window:
            raise self.fail(f"{field}.short_window", "must be shorter than long_window")
        share = self.number(item, "budget_share", f"{field}.budget_share")
        if not 0.0 < share <= 1.0:
            raise self.fail(f"{field}.budget_share", f"must be > 0 and <= 1, got {share!r}")
        return AlertWindow(name, severity, long_window, short_window, share)

    def duration(self, document: dict[str, Any], key: str, field: str) -> timedelta:
        value = self.required(document, key, field)
        try:
            return parse_duration(value)
        except ValueError as error:
            raise self.fail(field, str(error)) from None
