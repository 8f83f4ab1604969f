"""The two kinds of failure the CLI reports: a wrong configuration and a failed API call."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """One problem in the configuration; str() names the file, the path inside it and the reason."""

    def __init__(self, file: Path | str, path: str, reason: str) -> None:
        self.file = str(file)
        self.path = path
        self.reason = reason
        super().__init__(f"{self.file}: {path}: {reason}")


class ConfigErrors(Exception):
    """Every problem found in one pass, so that a run reports them all at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


class ApiError(Exception):
    """A Cloud Monitoring / Logging call failed; str() says which call on which object."""
