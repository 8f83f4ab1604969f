"""From files to validated desired objects: everything `validate` and `render` need, offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import slo
from monitoring import validate
from monitoring.build import build_items
from monitoring.config import PACKAGE_DIR, load_config
from monitoring.errors import ConfigError, ConfigErrors
from monitoring.resources import Desired
from monitoring.slo_objects import build_slo_objects, builtin_variables
from monitoring.variables import Environment, Substitution, load_environment


@dataclass(frozen=True)
class Sources:
    """Where the definitions are read from (CLI flags)."""

    config_dir: Path = PACKAGE_DIR
    slos_file: Path = slo.DEFAULT_SLOS_PATH
    alert_windows_file: Path = slo.DEFAULT_ALERT_WINDOWS_PATH


@dataclass(frozen=True)
class Loaded:
    environment: Environment
    desired: tuple[Desired, ...]
    variables: dict[str, Any]


def load(sources: Sources, environment_file: Path) -> Loaded:
    """Read, substitute, build and validate; raises ConfigErrors listing every problem."""
    config, errors = load_config(sources.config_dir)
    environment = _collect(errors, load_environment, environment_file, sources.config_dir)
    slos = _collect(errors, _slo_call, slo.load_slos, sources.slos_file)
    windows = _collect(errors, _slo_call, slo.load_alert_windows, sources.alert_windows_file)
    if errors or config is None or environment is None or slos is None or windows is None:
        raise ConfigErrors(errors)
    # Before anything computes a burn rate: a window longer than the SLO window has none.
    slo_errors = validate.check_slos(slos, windows, sources.alert_windows_file)
    if slo_errors:
        raise ConfigErrors(slo_errors)
    variables = dict(environment.variables)
    variables.setdefault("service", slos.service)
    first = Substitution(variables)
    settings = first.apply(config.slo_alerts.body, config.slo_alerts.file, "")
    service_id = (
        settings.get("service", {}).get("id") if isinstance(settings.get("service"), dict) else None
    )
    if first.errors or not isinstance(service_id, str):
        missing = [] if first.errors else [config.slo_alerts.error("service.id", "is required")]
        raise ConfigErrors(first.errors + missing)
    variables.update(builtin_variables(slos, windows, environment.project, service_id))
    substitution = Substitution(variables)
    desired, errors = build_items(config, substitution, environment.project)
    try:
        desired += build_slo_objects(settings, config.slo_alerts, slos, windows, variables)
    except ConfigError as error:
        errors.append(error)
    # The checks of meaning run on whatever was built, so that one run reports everything.
    errors = substitution.errors + errors
    errors += validate.check(desired, slos)
    if errors:
        raise ConfigErrors(errors)
    desired.sort(key=lambda d: (d.kind.order, d.config_id))
    return Loaded(environment, tuple(desired), variables)


def _slo_call(loader: Any, path: Path) -> Any:
    try:
        return loader(path)
    except slo.SloConfigError as error:
        raise ConfigError(error.source, error.field, error.reason) from None


def _collect(errors: list[ConfigError], function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except ConfigError as error:
        errors.append(error)
        return None
