"""Reading a YAML definitions file with errors that name the file, the field and the reason.

slo/config.py reads the SLOs with it, and release/environment.py the environment files, so that
both report a wrong file the same way (`FILE: FIELD: REASON`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class FieldError(ValueError):
    """A definitions file is wrong; str() names the file, the field and the reason."""

    def __init__(self, source: Path | str, field: str, reason: str) -> None:
        self.source = Path(source)
        self.field = field
        self.reason = reason
        super().__init__(f"{self.source}: {field}: {reason}")


def read_yaml(source: Path, error: type[FieldError] = FieldError) -> Any:
    """Parse one YAML file; an unreadable file or bad YAML raises `error` naming the line."""
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as problem:
        raise error(source, "(file)", f"cannot be read: {problem.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise error(source, where, f"is not valid YAML: {problem}") from None


class FieldReader:
    """Typed field access; every problem becomes an `error` naming the field."""

    error: type[FieldError] = FieldError

    def __init__(self, source: Path) -> None:
        self.source = source

    def fail(self, field: str, reason: str) -> FieldError:
        return self.error(self.source, field, reason)

    def mapping(self, value: Any, field: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, f"must be a mapping, got {kind(value)}")
        for key in value:
            if key not in allowed:
                prefix = "" if field == "(top level)" else f"{field}."
                known = ", ".join(sorted(allowed))
                raise self.fail(f"{prefix}{key}", f"unknown field (known fields: {known})")
        return value


def kind(value: Any) -> str:
    """How an error names a value's type."""
    return "nothing" if value is None else type(value).__name__
