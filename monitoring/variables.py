"""Per-environment variables and their substitution into the definitions.

`${name}` in any string is replaced by the variable's value; when a whole YAML value is a
single `${name}`, the value keeps its type (a list of channels, a number for a threshold).
`$${` writes a literal `${`. Names are dotted paths into the merged mapping of variables.yaml
(defaults) and environments/NAME.yaml, plus read-only built-ins computed from slo/:
`service`'s default, `slo.<objective>.name|goal|threshold_ms`, `slo.window_days` and
`alert_window.<name>.burn_rate|long_window|short_window` (`fast_page`: the page window with
the shortest long window).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.config import PACKAGE_DIR, read_yaml
from monitoring.errors import ConfigError

REFERENCE = re.compile(r"\$(\$?)\{([^}]*)\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
BUILTIN_ROOTS = ("slo", "alert_window")
REQUIRED = ("project", "region")


@dataclass(frozen=True)
class Environment:
    name: str
    file: Path
    variables: dict[str, Any]  # flattened: "notification_channels.paging" -> [...]

    @property
    def project(self) -> str:
        return str(self.variables["project"])


def environment_files(directory: Path = PACKAGE_DIR) -> list[Path]:
    return sorted((directory / "environments").glob("*.yaml"))


def resolve_environment_file(name_or_path: str, directory: Path = PACKAGE_DIR) -> Path:
    """`staging` -> DIR/environments/staging.yaml; anything with a slash or .yaml is a path."""
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        return Path(name_or_path)
    return directory / "environments" / f"{name_or_path}.yaml"


def load_environment(file: Path, directory: Path = PACKAGE_DIR) -> Environment:
    """Merge variables.yaml (defaults) with one environment file; raises ConfigError."""
    if not file.is_file():
        known = ", ".join(path.stem for path in environment_files(directory)) or "none"
        raise ConfigError(file, "(file)", f"no such environment file (known environments: {known})")
    defaults_file = directory / "variables.yaml"
    defaults = read_yaml(defaults_file) if defaults_file.is_file() else {}
    overrides = read_yaml(file)
    for source, document in ((defaults_file, defaults), (file, overrides)):
        if not isinstance(document, dict):
            raise ConfigError(
                source, "(top level)", "must be a mapping of variable names to values"
            )
        for root in BUILTIN_ROOTS:
            if root in document:
                raise ConfigError(source, root, "is computed from slo/ and cannot be set here")
    variables = _flatten({**defaults, **overrides})
    for key in REQUIRED:
        if not isinstance(variables.get(key), str) or not variables[key]:
            raise ConfigError(file, key, "is required (a non-empty string)")
    return Environment(file.stem, file, variables)


def _flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        flat[name] = value
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
    return flat


class Substitution:
    """Replaces `${name}` references; problems are collected as ConfigErrors, not raised."""

    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables
        self.errors: list[ConfigError] = []

    def apply(self, value: Any, file: Path, path: str) -> Any:
        if isinstance(value, dict):
            return {key: self.apply(item, file, _join(path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.apply(item, file, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, str):
            return self._string(value, file, path)
        return value

    def _string(self, text: str, file: Path, path: str) -> Any:
        whole = REFERENCE.fullmatch(text)
        if whole and not whole.group(1):
            return self._lookup(whole.group(2), file, path)

        def replace(match: re.Match[str]) -> str:
            if match.group(1):  # "$${" is an escaped literal "${"
                return "${" + match.group(2) + "}"
            value = self._lookup(match.group(2), file, path)
            if isinstance(value, dict | list):
                reason = f"${{{match.group(2)}}} is a {type(value).__name__}; it can only be "
                self.errors.append(ConfigError(file, path, reason + "a whole value, not in text"))
                return match.group(0)
            return _text(value)

        return REFERENCE.sub(replace, text)

    def _lookup(self, name: str, file: Path, path: str) -> Any:
        if not NAME.match(name):
            self.errors.append(ConfigError(file, path, f"${{{name}}} is not a valid variable name"))
            return "${" + name + "}"
        if name not in self.variables:
            near = [known for known in self.variables if known.split(".")[0] == name.split(".")[0]]
            hint = f" (defined: {', '.join(sorted(near)[:6])})" if near else ""
            self.errors.append(
                ConfigError(file, path, f"variable ${{{name}}} is not defined{hint}")
            )
            return "${" + name + "}"
        return self.variables[name]


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return format(value, "g") if isinstance(value, float) else str(value)
